"""Tests of the peer suite's own logic: rows, job specs, outcomes, figures from a ledger, the report.

Run with `python -m pytest benchmarks/peers/tests -q` (they are outside `tests/`, which the project's CI runs,
because the suite is benchmark-only code). The plain-loop test drives the real driver against the in-process
emulator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from peers import data, report, tools
from peers.metrics import Figures, figures, peak_admitted
from peers.monitor import Attempt, Sample, Watched, ledger_counts
from peers.scenarios import FULL, QUICK, scenarios
from peers.suite import ScenarioResult


def test_every_row_prompt_starts_with_its_id_and_directives_land_on_one_row_in_a_hundred(
    tmp_path: Path,
) -> None:
    path = data.write_rows(
        tmp_path / "rows.jsonl", 300, directive="[[emu:latency=60]]", every=100
    )
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in rows[:2]] == ["row-0000000", "row-0000001"]
    assert all(data.id_of(r["prompt"]) == r["id"] for r in rows)
    marked = [r["id"] for r in rows if "[[emu:" in r["prompt"]]
    assert marked == ["row-0000050", "row-0000150", "row-0000250"]


def test_a_directive_on_every_row_marks_every_row(tmp_path: Path) -> None:
    path = data.write_rows(
        tmp_path / "rows.jsonl", 5, directive="[[emu:fail=429x1,retry=none]]", every=1
    )
    assert all(
        "retry=none" in json.loads(line)["prompt"]
        for line in path.read_text().splitlines()
    )


def test_an_excerpt_without_a_row_id_belongs_to_no_row() -> None:
    assert data.id_of("") is None
    assert data.id_of("Jason is 25 years old.") is None


def test_scenarios_hold_the_client_limit_at_90_percent_or_twice_the_servers() -> None:
    by_name = {s.name: s for s in scenarios(FULL)}
    assert by_name["steady"].client_rpm == pytest.approx(0.9 * FULL.server_rpm)
    assert by_name["limits-2x-hint"].client_rpm == pytest.approx(2 * FULL.server_rpm)
    assert by_name["limits-2x-nohint"].client_rpm == pytest.approx(2 * FULL.server_rpm)
    assert by_name["many-rows"].rows == 200_000
    assert {s.name for s in scenarios(QUICK)} == set(by_name)


def test_our_job_spec_has_the_same_limits_as_the_peers_config(tmp_path: Path) -> None:
    steady = next(s for s in scenarios(FULL) if s.name == "steady")
    rows = tmp_path / "rows.jsonl"
    ours = tools.launch(
        "ours-openai", steady, tmp_path / "ours", "http://127.0.0.1:1", rows, None
    )
    spec = (tmp_path / "ours" / "job.toml").read_text()
    assert 'kind = "openai"' in spec and '"http://127.0.0.1:1/v1"' in spec
    assert f"requests_per_minute = {steady.client_rpm!r}" in spec
    assert "concurrency = 32" in spec and "max_attempts = 5" in spec
    assert "bench-key" not in spec and ours.env["BENCH_API_KEY"] == "bench-key"
    plain = tools.launch(
        "plain", steady, tmp_path / "plain", "http://127.0.0.1:1", rows, None
    )
    config = json.loads((tmp_path / "plain" / "driver.json").read_text())
    assert (config["rpm"], config["concurrency"], config["max_attempts"]) == (
        steady.client_rpm,
        32,
        5,
    )
    assert "bench-key" not in json.dumps(config) and plain.argv[0] == sys.executable


def test_curator_keeps_its_cache_only_where_it_is_how_it_resumes(
    tmp_path: Path,
) -> None:
    by_name = {s.name: s for s in scenarios(FULL)}
    rows = tmp_path / "rows.jsonl"
    steady = tools.launch(
        "curator", by_name["steady"], tmp_path / "a", "http://127.0.0.1:1", rows, None
    )
    killed = tools.launch(
        "curator",
        by_name["kill-rerun"],
        tmp_path / "b",
        "http://127.0.0.1:1",
        rows,
        None,
    )
    assert (
        steady.env["CURATOR_DISABLE_CACHE"] == "1"
        and steady.env["TELEMETRY_ENABLED"] == "false"
    )
    assert "CURATOR_DISABLE_CACHE" not in killed.env


def test_a_peer_outcome_that_was_ok_once_stays_ok_and_a_cut_line_is_skipped(
    tmp_path: Path,
) -> None:
    out = tmp_path / "outcomes.jsonl"
    out.write_text(
        '{"id": "row-0000000", "ok": true}\n{"id": "row-0000000", "ok": false}\n'
        '{"id": "row-0000001", "ok": false}\n{"id": "row-00'
    )
    launch = tools.Launch("plain", ("x",), {}, out)
    assert tools.read_outcomes(launch) == {"row-0000000": True, "row-0000001": False}


def _watched(samples: list[Sample]) -> Watched:
    watched = Watched(attempts=[Attempt(0, 10.0, 2.0)], ttfr_s=1.0, samples=samples)
    watched.rss = [(0.5, 40.0), (1.0, 80.0)]
    watched.peak_by_pid = {1234: 50.0}
    return watched


def test_figures_count_requests_per_row_and_replies_paid_twice_from_the_ledger() -> (
    None
):
    ledger = {
        "requests": 6,
        "rate_limited": 1,
        "peak_in_flight": 3,
        "requests_by_route": {
            "POST /v1/chat/completions": {"200": 4, "429": 1, "400": 1}
        },
        "tokens": {"input": 100, "output": 300},
        "requests_by_body": [
            {"count": 3, "ok": 2, "excerpt": "row-0000000: Summarise"},
            {"count": 1, "ok": 1, "excerpt": "row-0000001: Summarise"},
            {"count": 1, "ok": 1, "excerpt": "row-0000002: Summarise"},
            {"count": 1, "ok": 0, "excerpt": ""},  # a tool's probe
        ],
    }
    outcomes = {"row-0000000": True, "row-0000001": True, "row-0000002": False}
    f = figures(
        "plain", "steady", 4, _watched([Sample(2.0, 6, 4, 1)]), ledger, outcomes, 60.0
    )
    assert (f.rows_ok, f.rows_failed, f.rows_missing) == (2, 1, 1)
    assert (f.max_requests_per_id, f.ids_sent_more_than_once, f.replies_paid_twice) == (
        3,
        1,
        1,
    )
    assert f.tokens_billed == 400 and f.duplicate_tokens_est == 100
    assert f.statuses == {"200": 4, "400": 1, "429": 1}
    assert f.peak_rss_mb == 80.0  # the sampled tree beats the process's VmHWM here
    assert f.rows_per_min == pytest.approx(2 / 9.0 * 60.0, abs=0.05)
    assert (
        Figures.from_json(json.loads(json.dumps(f.to_json()))).replies_paid_twice == 1
    )


def test_the_busiest_window_counts_admitted_requests_only() -> None:
    samples = [
        Sample(0, 0, 0, 0),
        Sample(30, 100, 90, 10),
        Sample(60, 200, 150, 50),
        Sample(90, 210, 160, 50),
    ]
    assert peak_admitted(samples, 60.0) == 150  # 0..60 s: 200 requests, 50 of them 429
    assert peak_admitted(samples[:1], 60.0) is None


def test_ledger_counts_add_200s_over_every_route() -> None:
    ledger = {
        "requests": 5,
        "rate_limited": 2,
        "requests_by_route": {"a": {"200": 2}, "b": {"200": 1, "429": 2}},
    }
    assert ledger_counts(ledger) == (5, 3, 2)


def _result(ours_wall: float, peer_wall: float, peer_rss: float) -> ScenarioResult:
    def fig(tool: str, wall: float, rss: float) -> Figures:
        return figures(
            tool,
            "steady",
            1,
            Watched(attempts=[Attempt(0, wall, 1.0)], peak_by_pid={1: rss}),
            {},
            {"row-0000000": True},
            None,
        )

    result = ScenarioResult("steady", "Steady state", "what", True, 1.0)
    result.figures = [
        fig("ours-openai", ours_wall, 100.0),
        fig("plain", peer_wall, peer_rss),
    ]
    return result


def test_a_peer_is_called_ahead_only_beyond_the_noise_allowance() -> None:
    ahead = report.peers_ahead(_result(ours_wall=10.0, peer_wall=9.5, peer_rss=40.0))
    assert ahead == ["aiohttp + semaphore: peak RSS (MB) 40 against our 100"]
    assert (
        report.peers_ahead(_result(ours_wall=10.0, peer_wall=12.0, peer_rss=100.0))
        == []
    )


def test_the_report_has_a_table_per_scenario_and_splices_the_analysis(
    tmp_path: Path,
) -> None:
    meta = {"command": "python benchmarks/run_peers.py", "scale": {"server_limit": 1200, "window_s": 60.0},
            "versions": {"python": "3.11"}, "suite_wall_s": 60, "date": "today", "cores": "2 cores"}  # fmt: skip
    text = report.render(meta, [_result(10.0, 20.0, 50.0)], {}, tmp_path)
    assert "## Steady state" in text and "--only steady" in text
    assert "| aiohttp + semaphore | 20.0 (2.00x)" in text
    assert report.sections("## verdict\nWe win.\n## steady\nWhy.\n") == {
        "verdict": "We win.",
        "steady": "Why.",
    }


@pytest.mark.slow
def test_the_plain_loop_retries_a_hintless_429_and_writes_one_line_per_row(
    tmp_path: Path,
) -> None:
    from pipeline.emulator import EmulatorConfig, EmulatorThread

    rows = data.write_rows(
        tmp_path / "rows.jsonl", 6, directive="[[emu:fail=429x1,retry=none]]", every=3
    )
    steady = next(s for s in scenarios(QUICK) if s.name == "steady")
    with EmulatorThread(EmulatorConfig(port=0, api_key="bench-key")) as emu:
        ready = tools.launch(
            "plain", steady, tmp_path / "plain", emu.base_url, rows, None
        )
        done = subprocess.run(
            list(ready.argv), env=dict(ready.env), timeout=60, check=False
        )
        ledger = emu.ledger()
    assert done.returncode == 0
    assert tools.read_outcomes(ready) == {data.row_id(i): True for i in range(6)}
    assert ledger["rate_limited"] == 2 and ledger["requests"] == 8


def test_thinning_the_rss_series_keeps_its_peak_and_its_order() -> None:
    from peers.metrics import thin

    points = [(float(t), 100.0 + (50.0 if t == 777 else 0.0)) for t in range(3000)]
    kept = thin(points, 600)
    assert len(kept) <= 601 and (777.0, 150.0) in kept
    assert kept == sorted(kept) and thin(points[:10], 600) == points[:10]
