"""Cost, end to end: `pipeline run` against the emulator, checked against the emulator's own ledger.

The prices are written out here rather than read from `pricing.py`, so a wrong table fails these tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from support import ROOT, JobWriter, run_cli

from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.estimator import estimate_job
from pipeline.spec import load_spec

KEY = {"GEMINI_API_KEY": "test-key-not-real"}
# USD per million tokens, gemini-3.1-pro-preview and gemini-3-pro-image (reference section 6).
PRO = {"input": 2.0, "output": 12.0, "cached": 0.20}
PRO_LONG = {"input": 4.0, "output": 18.0, "cached": 0.40}
PRO_IMAGE = {"input": 2.0, "output": 12.0, "cached": 0.20, "image": 120.0}
IMAGE_TOKENS_2K = 1_120


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorConfig(port=0)) as server:
        yield server


def _results(out: Path) -> list[dict[str, Any]]:
    return ds.dataset(out / "results").to_table().to_pylist()


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def _row_cost(row: dict[str, Any], rates: dict[str, float]) -> float:
    """tokens x prices: thinking at the output rate, cached input at the cache rate, images at the image rate."""
    image = IMAGE_TOKENS_2K * len(row["images"] or [])
    cached = row["cached_tokens"]
    return (
        (row["input_tokens"] - cached) * rates["input"]
        + cached * rates["cached"]
        + (row["output_tokens"] - image + row["thinking_tokens"]) * rates["output"]
        + image * rates.get("image", 0.0)
    ) / 1e6


def _ledger_cost(tokens: dict[str, int], rates: dict[str, float]) -> float:
    cached = tokens["cached"]
    return (
        (tokens["input"] - cached) * rates["input"]
        + cached * rates["cached"]
        + (tokens["output"] + tokens["thinking"]) * rates["output"]
        + tokens["image_output"] * rates.get("image", 0.0)
    ) / 1e6


def _run(spec: Path, out: Path, *extra: str) -> Any:
    return run_cli("run", str(spec), "--out", str(out), "--quiet", *extra, env=KEY)


def _check_against_ledger(
    out: Path, ledger: dict[str, Any], rates: dict[str, float]
) -> list[dict[str, Any]]:
    rows = _results(out)
    assert rows and all(row["status"] == "ok" for row in rows)
    for row in rows:
        assert row["cost_usd"] == pytest.approx(_row_cost(row, rates), rel=1e-9), row[
            "id"
        ]
    tokens = ledger["tokens"]
    assert sum(row["input_tokens"] for row in rows) == tokens["input"]
    assert sum(row["thinking_tokens"] for row in rows) == tokens["thinking"]
    assert sum(row["cached_tokens"] for row in rows) == tokens["cached"]
    assert sum(row["output_tokens"] for row in rows) == (
        tokens["output"] + tokens["image_output"]
    )
    total = sum(row["cost_usd"] for row in rows)
    assert total == pytest.approx(_ledger_cost(tokens, rates), rel=1e-9)
    assert _summary(out)["cost_usd"] == pytest.approx(total, rel=1e-9)
    return rows


def test_text_and_thinking_cost_equals_the_billed_tokens(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    rows = [
        {"id": f"r{i}", "prompt": f"Summarise item {i}. " * (i + 1)} for i in range(8)
    ]
    spec = make_job(
        rows,
        provider={"base_url": emulator.base_url},
        generation={"thinking_level": "medium", "max_output_tokens": 4096},
    )

    result = _run(spec, tmp_path / "out")

    assert result.returncode == 0, result.stderr
    done = _check_against_ledger(tmp_path / "out", emulator.ledger(), PRO)
    assert all(row["thinking_tokens"] > 0 for row in done)
    # The emulator reports no cached tokens; the cache rate is in the formula should it start to.
    assert emulator.ledger()["tokens"]["cached"] == 0


def test_prompts_over_200k_tokens_cost_the_long_context_rates(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    spec = make_job(
        [
            {"id": "long", "prompt": "word " * 170_000}
        ],  # 850,000 characters: 212,500 tokens
        provider={"base_url": emulator.base_url},
        generation={"thinking_level": "low", "max_output_tokens": 2048},
    )

    result = _run(spec, tmp_path / "out")

    assert result.returncode == 0, result.stderr
    [row] = _check_against_ledger(tmp_path / "out", emulator.ledger(), PRO_LONG)
    assert row["input_tokens"] > 200_000


def test_image_tokens_cost_the_image_rate(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    spec = make_job(
        [
            {"id": "fox", "prompt": "a red fox"},
            {"id": "owl", "prompt": "an owl at dusk"},
        ],
        provider={"model": "gemini-3-pro-image", "base_url": emulator.base_url},
        generation={"image_size": "2K"},
    )

    result = _run(spec, tmp_path / "out")

    assert result.returncode == 0, result.stderr
    rows = _check_against_ledger(tmp_path / "out", emulator.ledger(), PRO_IMAGE)
    assert all(len(row["images"]) == 1 for row in rows)
    assert emulator.ledger()["tokens"]["image_output"] == 2 * IMAGE_TOKENS_2K


def test_a_budget_is_never_overspent_and_a_raised_one_resumes(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    budget = 0.03  # about 1.6 worst cases (1,024 output tokens at $18/M) for rows that cost ~$0.004
    rows = [
        {"id": f"r{i:02}", "prompt": f"Describe item {i} briefly."} for i in range(30)
    ]
    tables = {
        "provider": {"base_url": emulator.base_url},
        "generation": {"thinking_level": "low", "max_output_tokens": 1024},
        "limits": {"concurrency": 8, "budget_usd": budget},
    }
    spec = make_job(rows, **tables)
    out = tmp_path / "out"

    stopped = _run(spec, out)

    assert stopped.returncode == 3, stopped.stderr
    assert "budget" in stopped.stderr
    spent = sum(row["cost_usd"] or 0.0 for row in _results(out))
    billed = _ledger_cost(emulator.ledger()["tokens"], PRO)
    assert 0 < spent <= budget
    assert billed == pytest.approx(
        spent, rel=1e-9
    )  # the provider billed no more than the column says
    summary = _summary(out)
    assert summary["rows"]["ok"] < 30
    assert summary["budget"]["spent_usd"] == pytest.approx(spent, rel=1e-9)
    assert summary["budget"]["left_usd"] == pytest.approx(budget - spent, abs=1e-9)

    tables["limits"] = {"concurrency": 8, "budget_usd": 5.0}
    resumed = _run(make_job(rows, **tables), out)

    assert resumed.returncode == 0, resumed.stderr
    final = _results(out)
    assert sorted(row["id"] for row in final) == [f"r{i:02}" for i in range(30)]
    assert all(row["status"] == "ok" for row in final)
    generate = emulator.ledger()["requests_by_route"][
        "POST /v1beta/models/{model}:generateContent"
    ]
    assert generate == {"200": 30}  # nothing paid for twice
    assert _summary(out)["cost_usd"] == pytest.approx(
        _ledger_cost(emulator.ledger()["tokens"], PRO), rel=1e-9
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "job", sorted(path.name for path in (ROOT / "jobs").glob("*.toml"))
)
def test_the_estimate_range_contains_each_sample_jobs_cost(
    job: str, tmp_path: Path
) -> None:
    spec_path = ROOT / "jobs" / job
    estimate = estimate_job(load_spec(spec_path))
    assert estimate.cost_low_usd is not None and estimate.cost_high_usd is not None

    result = run_cli(
        "run", str(spec_path), "--emulator", "--out", str(tmp_path), "--quiet"
    )

    assert result.returncode == 0, result.stderr
    actual = _summary(tmp_path)["cost_usd"]
    assert estimate.cost_low_usd <= actual <= estimate.cost_high_usd
