"""Service tiers and context caching end to end: `pipeline run` in a subprocess against the emulator, every
dollar checked against the emulator's ledger."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from support import JobWriter, run_cli

from pipeline.emulator import EmulatorConfig, EmulatorThread

KEY = {"GEMINI_API_KEY": "e2e-key"}
FLASH = "gemini-3-flash-preview"  # $0.50 in, $3.00 out, $0.05 cached, $1.00 per 1M tokens an hour stored


def results(out: Path) -> list[dict[str, Any]]:
    return ds.dataset(out / "results").to_table().to_pylist()


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def run(job: Path, out: Path, *extra: str) -> Any:
    return run_cli(
        "run", str(job), "--out", str(out), "--quiet", *extra, env=KEY, timeout=300
    )


def standard_cost(row: dict[str, Any], rates: tuple[float, float, float]) -> float:
    """A row at Standard: input, cached input and output (thinking included) per 1M tokens."""
    inp, out, cached = rates
    fresh = row["input_tokens"] - row["cached_tokens"]
    return (
        fresh * inp
        + row["cached_tokens"] * cached
        + (row["output_tokens"] + row["thinking_tokens"]) * out
    ) / 1e6


PRO_RATES = (2.0, 12.0, 0.20)
FLASH_RATES = (0.50, 3.00, 0.05)


def test_a_flex_job_asks_for_flex_every_time_and_pays_half(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"Summarise item {i}."} for i in range(40)]
    config = EmulatorConfig(port=0, flex_latency_s=0.3, flex_jitter=0.5)
    with EmulatorThread(config) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            generation={"service_tier": "flex", "thinking_level": "low"},
        )
        done = run(job, tmp_path / "out")
        ledger = emulator.ledger()
    assert done.returncode == 0, done.stderr
    assert ledger["tiers"]["requested"] == {"standard": 0, "flex": 40, "priority": 0}
    assert ledger["tiers"]["served"]["flex"] == 40
    table = results(tmp_path / "out")
    assert {row["service_tier"] for row in table} == {"flex"}
    for row in table:
        assert row["cost_usd"] == pytest.approx(
            0.5 * standard_cost(row, PRO_RATES), rel=1e-9
        )
    total = sum(row["cost_usd"] for row in table)
    assert total == pytest.approx(ledger["cost_usd"], rel=1e-6)
    tiers = summary(tmp_path / "out")["tiers"]
    assert tiers["served"]["flex"]["rows"] == 40
    assert tiers["saved_usd"] == pytest.approx(
        total, rel=1e-6
    )  # all Standard costs twice as much


def test_priority_served_at_standard_is_priced_at_standard(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"Rate item {i}."} for i in range(10)]
    # No Priority allowance: every Priority request is served (and billed) at Standard, without an error.
    with EmulatorThread(EmulatorConfig(port=0, priority_allowance_rpm=0)) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            generation={"service_tier": "priority", "thinking_level": "low"},
        )
        done = run(job, tmp_path / "out")
        ledger = emulator.ledger()
    assert done.returncode == 0, done.stderr
    assert ledger["tiers"]["requested"]["priority"] == 10
    assert ledger["tiers"]["priority_downgraded"] == 10
    table = results(tmp_path / "out")
    assert {row["service_tier"] for row in table} == {"standard"}
    for row in table:
        assert row["cost_usd"] == pytest.approx(standard_cost(row, PRO_RATES), rel=1e-9)
    assert sum(row["cost_usd"] for row in table) == pytest.approx(
        ledger["cost_usd"], rel=1e-6
    )


def test_a_row_flex_keeps_refusing_moves_to_standard(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"Item {i}."} for i in range(12)]
    rows[3]["prompt"] += " [[emu:shed]]"  # Flex refuses this one every time
    rows[7]["prompt"] += " [[emu:shedx1]]"  # ... and this one once
    with EmulatorThread(EmulatorConfig(port=0, flex_latency_s=0.1)) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            generation={"service_tier": "flex", "thinking_level": "low"},
            limits={"flex_fallback_after_s": 2.5, "max_attempts": 2},
        )
        done = run(job, tmp_path / "out")
        ledger = emulator.ledger()
    assert done.returncode == 0, done.stderr
    by_id = {row["id"]: row for row in results(tmp_path / "out")}
    assert by_id["r3"]["service_tier"] == "standard" and by_id["r3"]["status"] == "ok"
    assert by_id["r3"]["cost_usd"] == pytest.approx(
        standard_cost(by_id["r3"], PRO_RATES), rel=1e-9
    )
    assert (
        by_id["r7"]["service_tier"] == "flex"
    )  # accepted on its second try, before the fallback
    assert ledger["tiers"]["flex_shed"] >= 2
    tiers = summary(tmp_path / "out")["tiers"]
    assert tiers["flex_fallbacks"] == 1
    assert (
        tiers["served"]["standard"]["rows"] == 1
        and tiers["served"]["flex"]["rows"] == 11
    )
    assert sum(row["cost_usd"] for row in by_id.values()) == pytest.approx(
        ledger["cost_usd"], rel=1e-6
    )


def handbook(tmp_path: Path, words: int = 1500) -> Path:
    media = tmp_path / "media"
    media.mkdir()
    (media / "handbook.txt").write_text(
        " ".join(f"rule{i} applies to every claim;" for i in range(words // 4))
    )
    return media


def test_a_cached_job_makes_one_cache_uses_it_everywhere_and_costs_what_the_ledger_says(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = handbook(tmp_path)
    rows = [{"id": f"r{i}", "prompt": f"Does rule {i} apply?"} for i in range(20)]
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            rows,
            provider={"model": FLASH, "base_url": emulator.base_url},
            input={"media_dir": str(media)},
            prompt={"system": "Answer from the handbook."},
            generation={"thinking_level": "low"},
            cache={"enabled": True, "files": ["handbook.txt"], "ttl_s": 600},
        )
        done = run(job, tmp_path / "out")
        ledger = emulator.ledger()
    assert done.returncode == 0, done.stderr
    caches = ledger["caches"]
    assert (caches["created"], caches["deleted"], caches["alive"]) == (1, 1, 0)
    table = results(tmp_path / "out")
    cached = {row["cached_tokens"] for row in table}
    assert cached == {caches["creation_tokens"]}  # every row read the whole cache
    assert caches["cached_input_tokens"] == 20 * caches["creation_tokens"]
    for row in table:
        assert row["cost_usd"] == pytest.approx(
            standard_cost(row, FLASH_RATES), rel=1e-9
        )
    result = summary(tmp_path / "out")
    section = result["cache"]
    assert (section["created"], section["state"], section["tokens"]) == (
        1,
        "deleted",
        caches["creation_tokens"],
    )
    detail = ledger["cost_usd_detail"]
    assert section["creation_usd"] == pytest.approx(detail["cache_creation"], rel=1e-6)
    # The client times the cache's life from its side of the create and delete calls, the server from its own:
    # a few tens of ms apart, which is several percent of a run that now lasts well under a second.
    assert section["storage_usd"] == pytest.approx(
        detail["cache_storage"], rel=0.05, abs=5e-9
    )
    assert result["cost_usd"] == pytest.approx(ledger["cost_usd"], rel=1e-5, abs=1e-7)
    status = run_cli("status", str(tmp_path / "out"))
    assert "cache" in status.stdout and "deleted" in status.stdout


def test_a_kept_cache_is_reused_by_the_next_session(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = handbook(tmp_path)
    rows = [{"id": f"r{i}", "prompt": f"Does rule {i} apply?"} for i in range(10)]
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            rows,
            provider={"model": FLASH, "base_url": emulator.base_url},
            input={"media_dir": str(media)},
            generation={"thinking_level": "low"},
            cache={"enabled": True, "files": ["handbook.txt"], "keep": True},
        )
        first = run(job, tmp_path / "out", "--limit", "4")
        second = run(job, tmp_path / "out")
        ledger = emulator.ledger()
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert ledger["caches"]["created"] == 1 and ledger["caches"]["alive"] == 1
    assert all(row["cached_tokens"] > 0 for row in results(tmp_path / "out"))
    section = summary(tmp_path / "out")["cache"]
    assert (section["created"], section["reused"], section["state"]) == (1, 1, "kept")


def test_a_cache_below_the_models_minimum_is_refused_before_anything_is_sent(
    make_job: JobWriter, tmp_path: Path
) -> None:
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            [{"id": "a", "prompt": "hi"}],
            provider={
                "base_url": emulator.base_url
            },  # gemini-3.1-pro-preview caches 4,096 tokens at least
            prompt={"system": "Be brief."},
            cache={"enabled": True},
        )
        done = run(job, tmp_path / "out")
        ledger = emulator.ledger()
    assert done.returncode == 2
    assert "cache" in done.stderr and "4,096" in done.stderr
    assert ledger["requests"] == 0


def test_implicit_cache_hits_are_priced_at_the_cached_rate(
    make_job: JobWriter, tmp_path: Path
) -> None:
    system = (
        "You grade essays against this rubric. " * 200
    )  # ~2,000 tokens, above Flash's 1,024
    rows = [{"id": f"r{i}", "prompt": f"Grade essay {i}."} for i in range(6)]
    with EmulatorThread(EmulatorConfig(port=0, implicit_cache=True)) as emulator:
        job = make_job(
            rows,
            provider={"model": FLASH, "base_url": emulator.base_url},
            prompt={"system": system},
            generation={"thinking_level": "low"},
            limits={"concurrency": 1},
        )
        done = run(job, tmp_path / "out")
        ledger = emulator.ledger()
    assert done.returncode == 0, done.stderr
    table = results(tmp_path / "out")
    assert (
        sum(row["cached_tokens"] for row in table)
        == ledger["caches"]["implicit_cached_tokens"]
        > 0
    )
    for row in table:
        assert row["cost_usd"] == pytest.approx(
            standard_cost(row, FLASH_RATES), rel=1e-9
        )
    assert sum(row["cost_usd"] for row in table) == pytest.approx(
        ledger["cost_usd"], rel=1e-6
    )


@pytest.mark.slow
def test_auto_meets_its_deadline_for_less_than_standard(
    make_job: JobWriter, tmp_path: Path
) -> None:
    # 400 rows, 16 at a time, Flex answering in ~1 s: all Flex would take ~25 s; the deadline is 16 s away.
    rows = [{"id": f"r{i}", "prompt": f"Item {i}."} for i in range(400)]
    deadline = (datetime.now().astimezone() + timedelta(seconds=16)).isoformat(
        timespec="seconds"
    )
    config = EmulatorConfig(port=0, flex_latency_s=1.0, flex_jitter=0.2, latency_ms=20)
    with EmulatorThread(config) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            generation={"service_tier": "auto", "thinking_level": "low"},
            limits={"concurrency": 16, "deadline": deadline},
        )
        done = run(job, tmp_path / "out")
        ledger = emulator.ledger()
    finished = datetime.now().astimezone()
    assert done.returncode == 0, done.stderr
    assert finished <= datetime.fromisoformat(deadline) + timedelta(
        seconds=3
    )  # start-up and summary
    result = summary(tmp_path / "out")
    served = result["tiers"]["served"]
    assert served["flex"]["rows"] > 0 and served["standard"]["rows"] > 0
    assert result["tiers"]["saved_usd"] > 0
    assert result["cost_usd"] == pytest.approx(ledger["cost_usd"], rel=1e-6)


def test_the_cache_ttl_is_renewed_while_the_run_goes_on(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = handbook(tmp_path)
    rows = [{"id": f"r{i}", "prompt": f"Does rule {i} apply?"} for i in range(24)]
    with EmulatorThread(EmulatorConfig(port=0, latency_ms=1000)) as emulator:
        job = make_job(
            rows,
            provider={"model": FLASH, "base_url": emulator.base_url},
            input={"media_dir": str(media)},
            generation={"thinking_level": "low"},
            limits={"concurrency": 4},
            # renewed when half is left: 2 s of slack for a loaded machine's event loop
            cache={"enabled": True, "files": ["handbook.txt"], "ttl_s": 4.0},
        )
        done = run(job, tmp_path / "out")  # ~6 s of requests: longer than the TTL
        ledger = emulator.ledger()
    assert done.returncode == 0, done.stderr
    assert ledger["caches"]["created"] == 1 and ledger["caches"]["expired"] == 0
    patches = ledger["requests_by_route"].get("PATCH /v1beta/cachedContents/{id}", {})
    assert patches.get("200", 0) >= 1
    assert all(row["cached_tokens"] > 0 for row in results(tmp_path / "out"))
