"""`pipeline estimate JOB --pilot N`: the stratified sample, the projections, and on the emulator a pilot whose
cost interval holds the full run's cost, and a full run that does not pay again for the pilot's rows."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image
from support import JobWriter

from pipeline.cli._commands import cli
from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.pilot import Sample, Stratum, draw_sample, project_cost, project_wall_time
from pipeline.spec import load_spec

KEY = {"GEMINI_API_KEY": "pilot-key-not-real"}
GENERATE = "POST /v1beta/models/{model}:generateContent"


def rows(n: int) -> list[dict[str, Any]]:
    # four prompt lengths, from a few words to about 1,500 characters
    return [
        {
            "id": f"p{i:04d}",
            "prompt": f"row {i}: " + "some words " * (5 + (i * 37) % 150),
        }
        for i in range(n)
    ]


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorConfig(port=0)) as server:
        yield server


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env=KEY)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_the_sample_is_stratified_and_deterministic(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    Image.new("RGB", (8, 8), "red").save(media / "a.png")
    data = rows(400)
    for row in data[::10]:
        row["media"] = ["a.png"]  # 40 image rows
    spec = load_spec(make_job(data, input={"media_dir": str(media)}))
    sample = draw_sample(spec, 40, seed=1)
    assert len(sample.ids) == 40 and sample.valid_rows == 400
    assert sample.ids == draw_sample(spec, 40, seed=1).ids
    assert sample.ids != draw_sample(spec, 40, seed=2).ids
    kinds = Counter(s.key.split(", ")[1] for s in sample.strata for _ in s.sampled)
    assert kinds == {
        "text": 36,
        "image": 4,
    }  # proportional to the 360 text and 40 image rows
    bands = {s.key.split(",")[0] for s in sample.strata if s.key.endswith("text")}
    assert len(bands) == 4  # prompt length quartiles
    for stratum in sample.strata:
        assert stratum.sampled, stratum.key  # every stratum is reached
        assert abs(len(stratum.sampled) - 40 * stratum.rows / 400) <= 1
    assert draw_sample(spec, 1000).ids == {
        r["id"] for r in data
    }  # all when the job is smaller


def test_cost_projection_uses_the_static_estimate_for_strata_not_reached() -> None:
    sample = Sample(
        (Stratum("a", 100, ("a1", "a2", "a3")), Stratum("b", 50, ())),
        valid_rows=150,
        invalid_rows=0,
    )
    cost = project_cost(
        sample,
        {"a1": 0.01, "a2": 0.02, "a3": 0.03},
        static_row_low=0.001,
        static_row_high=0.1,
    )
    assert cost.point_usd == pytest.approx(100 * 0.02 + 50 * 0.0505)
    assert cost.unsampled_rows == 50
    assert cost.low_usd <= 100 * 0.01 + 50 * 0.001 + 1e-9
    assert cost.high_usd >= 100 * 0.03 + 50 * 0.1 - 1e-9


def test_wall_time_verdicts() -> None:
    daily = project_wall_time(
        requests=97_000,
        input_tokens=1e6,
        mean_latency_s=2.0,
        concurrency=16,
        requests_per_minute=1000,
        tokens_per_minute=None,
        requests_per_day=10_000,
    )
    assert daily.binding == "requests_per_day"
    assert daily.verdict.startswith(
        "at 10,000 requests per day this job needs 9.7 days"
    )
    rpm = project_wall_time(
        requests=6000,
        input_tokens=1e6,
        mean_latency_s=0.5,
        concurrency=64,
        requests_per_minute=100,
        tokens_per_minute=None,
        requests_per_day=None,
    )
    assert rpm.binding == "requests_per_minute" and rpm.seconds == pytest.approx(3600)
    assert "1.0 hours" in rpm.verdict or "60 minutes" in rpm.verdict
    slow = project_wall_time(
        requests=1000,
        input_tokens=1e6,
        mean_latency_s=30.0,
        concurrency=10,
        requests_per_minute=6000,
        tokens_per_minute=None,
        requests_per_day=None,
    )
    assert slow.binding == "concurrency and latency" and slow.seconds == pytest.approx(
        3000
    )


def test_pilot_projects_the_full_runs_cost_and_the_full_run_does_not_pay_again(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    spec = make_job(
        rows(2000),
        provider={"model": "gemini-3-flash-preview", "base_url": emulator.base_url},
        limits={"concurrency": 32, "requests_per_day": 5000},
    )
    out = tmp_path / "out"
    pilot = invoke("estimate", str(spec), "--pilot", "100", "--out", str(out))
    assert pilot.exit_code == 0, pilot.stderr
    text = pilot.stdout
    assert "100 rows sent" in text and "verdict" in text
    ledger = emulator.ledger()
    assert ledger["requests_by_route"][GENERATE] == {"200": 100}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"]["ok"] == 100

    full = invoke("run", str(spec), "--out", str(out), "--quiet")
    assert full.exit_code == 0, full.stderr
    ledger = emulator.ledger()
    assert ledger["requests_by_route"][GENERATE] == {
        "200": 2000
    }  # 100 in the pilot, 1,900 after
    assert all(
        body["ok"] == 1 for body in ledger["requests_by_body"]
    )  # no row was paid for twice
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"]["ok"] == 2000

    from pipeline.pilot import plan_pilot, project_pilot

    plan = plan_pilot(load_spec(spec), 100)
    projected = project_pilot(
        load_spec(spec), plan, out
    )  # the same sample, read back from the journal
    assert projected.cost is not None
    low, high = projected.cost.low_usd, projected.cost.high_usd
    assert low <= summary["cost_usd"] <= high, (low, summary["cost_usd"], high)
    assert f"${low:,.2f} to ${high:,.2f}" in text
    assert high - low < 0.25 * summary["cost_usd"]  # an interval that says something
