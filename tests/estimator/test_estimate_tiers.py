"""`pipeline estimate` with service tiers and a context cache: the cost range by tier, and whether caching pays."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import JobWriter, run_cli

from pipeline.estimator import estimate_job
from pipeline.spec import load_spec

FLASH = "gemini-3-flash-preview"  # $0.50 in, $0.05 cached, $1.00 per 1M tokens an hour stored
ROWS = [
    {"id": f"r{i}", "prompt": f"Does rule {i} apply to the claim?"} for i in range(40)
]


def handbook(tmp_path: Path, chars: int = 12_000) -> Path:
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    (media / "handbook.txt").write_text("x" * chars)  # chars / 4 tokens
    return media


def test_the_cost_range_follows_the_tier(make_job: JobWriter) -> None:
    def costs(**generation: object) -> tuple[float, float]:
        limits = {"deadline": "06:00"}
        estimate = estimate_job(
            load_spec(make_job(ROWS, generation=generation, limits=limits))
        )
        assert estimate.cost_low_usd is not None and estimate.cost_high_usd is not None
        return estimate.cost_low_usd, estimate.cost_high_usd

    low, high = costs()
    assert costs(service_tier="flex") == pytest.approx((low / 2, high / 2))
    assert costs(service_tier="auto") == pytest.approx((low / 2, high))
    assert costs(service_tier="priority") == pytest.approx((low, high * 2))


def test_a_cache_that_pays_says_from_how_many_rows(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = handbook(tmp_path)
    tables = {
        "provider": {"model": FLASH},
        "input": {"media_dir": str(media)},
        "prompt": {"system": "Answer from the handbook."},
        "cache": {"enabled": True, "files": ["handbook.txt"], "ttl_s": 3600},
    }
    cached = estimate_job(load_spec(make_job(ROWS, **tables)))
    tokens = 3_000 + 7  # the file, and the system instruction's 26 characters
    creation = tokens * 0.50 / 1e6
    storage = tokens * 1.00 / 1e6
    per_row = tokens * (0.50 - 0.05) / 1e6
    assert cached.cache_breakeven_rows == -(-(creation + storage) // per_row)
    assert cached.cache_saving_usd == pytest.approx(40 * per_row - creation - storage)
    assert cached.cache_note is not None and "pays from 4 rows on" in cached.cache_note
    tables["cache"] = {"enabled": False, "files": ["handbook.txt"]}
    sent = estimate_job(load_spec(make_job(ROWS, **tables)))
    assert sent.cache_note is not None and "not cached" in sent.cache_note
    # Cached, every row reads the prefix at the cached rate, plus the cache's creation and storage.
    assert cached.cost_low_usd is not None and sent.cost_low_usd is not None
    assert sent.cost_low_usd - cached.cost_low_usd == pytest.approx(
        40 * per_row - creation - storage
    )


def test_a_cache_that_does_not_pay_or_is_too_small(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = handbook(tmp_path, chars=8_000)  # 2,000 tokens: above Flash's 1,024
    tables = {
        "provider": {"model": FLASH},
        "input": {"media_dir": str(media)},
        "cache": {"enabled": True, "files": ["handbook.txt"], "ttl_s": 36_000},
    }
    few = estimate_job(load_spec(make_job(ROWS[:3], **tables)))
    assert few.cache_note is not None and "does not pay" in few.cache_note
    assert few.cache_saving_usd is not None and few.cache_saving_usd < 0
    tables["provider"] = {
        "model": "gemini-3.1-pro-preview"
    }  # caches 4,096 tokens at least
    small = estimate_job(load_spec(make_job(ROWS, **tables)))
    assert small.cache_note is not None and "too small to cache" in small.cache_note
    assert "4,096" in small.cache_note and small.cache_breakeven_rows is None


def test_cli_prints_the_cache_verdict(make_job: JobWriter, tmp_path: Path) -> None:
    media = handbook(tmp_path)
    job = make_job(
        ROWS,
        provider={"model": FLASH},
        input={"media_dir": str(media)},
        cache={"enabled": True, "files": ["handbook.txt"]},
    )
    done = run_cli("estimate", str(job))
    assert done.returncode == 0, done.stderr
    assert "cache" in done.stdout and "pays from" in done.stdout
