"""`pipeline run` end to end, as a user runs it: the CLI in a subprocess against the emulator."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from support import JobWriter, run_cli

from pipeline.emulator import EmulatorConfig, EmulatorThread

KEY = {"GEMINI_API_KEY": "e2e-key"}

# i % 20 -> (directive, expected status, expected attempts, expected error_code)
MAX_ATTEMPTS = 4
CASES: dict[int, tuple[str, str, int, str | None]] = {
    1: ("[[emu:fail=503x2]]", "ok", 3, None),
    2: ("[[emu:fail=400]]", "failed", 1, "INVALID_ARGUMENT"),
    3: ("[[emu:block=SAFETY]]", "blocked", 1, "SAFETY"),
    4: ("[[emu:fail=500]]", "failed", MAX_ATTEMPTS, "INTERNAL"),
    5: ("[[emu:malformedx1]]", "ok", 2, None),
    6: ("[[emu:max_tokens]]", "truncated", 1, "MAX_TOKENS"),
    7: ("[[emu:finish=SAFETY]]", "blocked", 1, "SAFETY"),
    8: ("[[emu:resetx1]]", "ok", 2, None),
    9: ("[[emu:truncatedx1]]", "ok", 2, None),
}


def expected_for(i: int) -> tuple[str, str, int, str | None]:
    if i % 100 == 99:
        return ("[[emu:fail=429x1,retry=0.3s]]", "ok", 2, None)
    return CASES.get(i % 20, ("", "ok", 1, None))


def results(out: Path) -> list[dict[str, object]]:
    return ds.dataset(out / "results").to_table().to_pylist()


def test_a_thousand_rows_with_faults_end_as_expected(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = []
    for i in range(1000):
        directive = expected_for(i)[0]
        rows.append(
            {
                "id": f"row-{i:04d}",
                "prompt": f"row-{i:04d} asks question {i} {directive}",
            }
        )
    with EmulatorThread(EmulatorConfig(port=0, seed=7)) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            limits={
                "concurrency": 32,
                "max_attempts": MAX_ATTEMPTS,
                "request_timeout_s": 10.0,
            },
        )
        out = tmp_path / "out"
        done = run_cli(
            "run", str(job), "--out", str(out), "--quiet", env=KEY, timeout=300
        )
        ledger = emulator.ledger()
    assert done.returncode == 1, done.stderr  # some rows are meant to fail
    table = results(out)
    assert len(table) == 1000
    assert len({row["id"] for row in table}) == 1000
    for row in table:
        i = int(str(row["id"]).split("-")[1])
        _, status, attempts, code = expected_for(i)
        assert (row["status"], row["attempts"], row["error_code"]) == (
            status,
            attempts,
            code,
        ), row
        if status == "ok":
            # the emulator's reply quotes the prompt: each reply belongs to its own row
            assert f"row-{i:04d}" in str(row["text"])
    billed = ledger["tokens"]
    assert sum(int(r["input_tokens"]) for r in table) == billed.get("input", 0)  # type: ignore[arg-type]
    assert sum(int(r["output_tokens"]) for r in table) == billed.get("output", 0)  # type: ignore[arg-type]
    assert sum(int(r["thinking_tokens"]) for r in table) == billed.get("thinking", 0)  # type: ignore[arg-type]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"]["ok"] == sum(1 for r in table if r["status"] == "ok")


def test_missing_key_stops_before_anything_is_sent(
    make_job: JobWriter, tmp_path: Path
) -> None:
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            [{"id": "a", "prompt": "hi"}], provider={"base_url": emulator.base_url}
        )
        done = run_cli("run", str(job), "--out", str(tmp_path / "out"))
        ledger = emulator.ledger()
    assert done.returncode == 2
    assert "GEMINI_API_KEY" in done.stderr
    assert ledger["requests"] == 0


def test_refused_key_stops_the_run_and_never_prints_it(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(50)]
    with EmulatorThread(EmulatorConfig(port=0, api_key="the-right-key")) as emulator:
        job = make_job(rows, provider={"base_url": emulator.base_url})
        out = tmp_path / "out"
        done = run_cli(
            "run", str(job), "--out", str(out), env={"GEMINI_API_KEY": "wrong-key-123"}
        )
        ledger = emulator.ledger()
    assert done.returncode == 2, done.stderr
    assert "GEMINI_API_KEY" in done.stderr
    assert (
        ledger["requests"] <= 16
    )  # at most the first wave in flight, then the run stops
    for path in out.rglob("*"):
        if path.is_file():
            assert b"wrong-key-123" not in path.read_bytes()
    assert "wrong-key-123" not in done.stderr + done.stdout


@pytest.mark.slow
def test_requests_per_minute_is_never_exceeded_in_any_window(
    make_job: JobWriter, tmp_path: Path
) -> None:
    # 3,000 requests per minute is 100 per rolling 2 s window, which the emulator enforces with 429s.
    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(300)]
    with EmulatorThread(EmulatorConfig(port=0, rpm=100, window_s=2.0)) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            limits={"requests_per_minute": 600, "concurrency": 32},
        )
        done = run_cli(
            "run", str(job), "--out", str(tmp_path / "out"), "--quiet", env=KEY
        )
        ledger = emulator.ledger()
    assert done.returncode == 0, done.stderr
    assert ledger["rate_limited"] == 0
    assert max(ledger["per_window"]) <= 100


@pytest.mark.slow
def test_no_limits_converges_on_the_server_limit_without_a_storm(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(400)]
    with EmulatorThread(EmulatorConfig(port=0, rpm=40, window_s=1.0)) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            limits={"concurrency": 32, "max_attempts": 8},
        )
        done = run_cli(
            "run", str(job), "--out", str(tmp_path / "out"), "--quiet", env=KEY
        )
        ledger = emulator.ledger()
    assert done.returncode == 0, done.stderr
    statuses = Counter(str(r["status"]) for r in results(tmp_path / "out"))
    assert statuses == {"ok": 400}
    assert ledger["rate_limited"] < 0.10 * ledger["requests"], ledger["rate_limited"]
