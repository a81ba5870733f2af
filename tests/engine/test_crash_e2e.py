"""Crash safety through the CLI: kill -9 at random moments, SIGINT, changed specs, locked and unusable DIRs."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from support import ROOT, JobWriter, run_cli

from pipeline.emulator import EmulatorConfig, EmulatorThread

KEY = {"GEMINI_API_KEY": "crash-key"}
CONCURRENCY = 8


def start_cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **KEY}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_requests(
    emulator: EmulatorThread,
    count: int,
    timeout: float = 60.0,
    proc: subprocess.Popen[str] | None = None,
) -> bool:
    """Wait until the run is really under way (imports take a while on a loaded machine); False when
    `proc` ended first."""
    deadline = time.monotonic() + timeout
    while int(emulator.ledger()["requests"]) < count:
        if proc is not None and proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.05)
    return True


def wait_for_in_flight(
    emulator: EmulatorThread, count: int, timeout: float = 60.0
) -> None:
    """Wait until the emulator holds `count` requests in flight (hanging rows of a live run)."""
    deadline = time.monotonic() + timeout
    while int(emulator.ledger()["in_flight"]) < count:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.05)


def results(out: Path) -> list[dict[str, object]]:
    return ds.dataset(out / "results").to_table().to_pylist()


def paid_twice(ledger: dict[str, object]) -> int:
    bodies = ledger["requests_by_body"]
    assert isinstance(bodies, list)
    return sum(max(0, int(body["ok"]) - 1) for body in bodies)


@pytest.mark.slow
def test_kill_9_at_random_moments_never_pays_twice_for_a_journaled_reply(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rng = random.Random(2026)
    rows = [
        {"id": f"k{i:04d}", "prompt": f"k{i:04d} summarise item {i}"}
        for i in range(800)
    ]
    out = tmp_path / "out"
    kills = 0
    # 8 in flight at 80 ms each: about 100 rows/s, so 800 rows outlast four kills of at most 1.5 s
    with EmulatorThread(EmulatorConfig(port=0, latency_ms=80.0)) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            limits={"concurrency": CONCURRENCY, "max_attempts": 3},
        )
        for _ in range(4):
            proc = start_cli("run", str(job), "--out", str(out), "--quiet")
            sent = int(emulator.ledger()["requests"])
            if not wait_for_requests(emulator, sent + 1, proc=proc):
                break  # it finished by itself
            time.sleep(rng.uniform(0.2, 1.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.communicate(timeout=60)
        final = run_cli(
            "run", str(job), "--out", str(out), "--quiet", env=KEY, timeout=300
        )
        ledger = emulator.ledger()
    assert kills >= 3, "the run finished before it could be killed: make it longer"
    assert final.returncode == 0, final.stderr
    table = results(out)
    assert len(table) == 800 and len({r["id"] for r in table}) == 800
    assert Counter(str(r["status"]) for r in table) == {"ok": 800}
    # Only the requests in flight at a kill (at most `concurrency`) may have been paid for twice: a worker frees
    # its slot only once its reply is committed to the journal.
    assert paid_twice(ledger) <= CONCURRENCY * kills


@pytest.mark.slow
def test_sigint_stops_cleanly_and_the_run_resumes(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"s{i:03d}", "prompt": f"s{i:03d} question"} for i in range(300)]
    out = tmp_path / "out"
    with EmulatorThread(EmulatorConfig(port=0, latency_ms=100.0)) as emulator:
        job = make_job(
            rows, provider={"base_url": emulator.base_url}, limits={"concurrency": 8}
        )
        proc = start_cli("run", str(job), "--out", str(out))
        wait_for_requests(emulator, 40)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert "resume with" in stderr
        partial = results(out)
        # one row per input id, interrupted or not: what is left is `pending`
        assert len(partial) == 300 and len({r["id"] for r in partial}) == 300
        statuses = Counter(str(r["status"]) for r in partial)
        assert set(statuses) == {"ok", "pending"} and statuses["ok"] > 0, statuses
        final = run_cli("run", str(job), "--out", str(out), "--quiet", env=KEY)
        ledger = emulator.ledger()
    assert final.returncode == 0, final.stderr
    assert len(results(out)) == 300
    assert (
        paid_twice(ledger) == 0
    )  # a graceful stop finishes what is in flight: nothing is paid twice


@pytest.mark.slow
def test_a_second_sigint_cancels_at_once(make_job: JobWriter, tmp_path: Path) -> None:
    rows = [{"id": f"h{i}", "prompt": f"h{i} [[emu:hang=20]]"} for i in range(20)]
    out = tmp_path / "out"
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            limits={"request_timeout_s": 60.0},
        )
        proc = start_cli("run", str(job), "--out", str(out), "--grace", "30")
        wait_for_in_flight(emulator, 8)  # every worker's row is hanging in flight
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - started < 10.0
    assert (out / "summary.json").exists()


def test_a_changed_spec_is_refused_with_what_differs(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": "a", "prompt": "hi"}]
    out = tmp_path / "out"
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        first = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            generation={"temperature": 0.2},
        )
        assert (
            run_cli("run", str(first), "--out", str(out), "--quiet", env=KEY).returncode
            == 0
        )
        second = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            generation={"temperature": 0.7},
        )
        refused = run_cli("run", str(second), "--out", str(out), "--quiet", env=KEY)
        assert refused.returncode == 2
        assert "temperature" in refused.stderr
        allowed = run_cli(
            "run",
            str(second),
            "--out",
            str(out),
            "--quiet",
            "--allow-spec-change",
            env=KEY,
        )
        assert allowed.returncode == 0, allowed.stderr


def test_limits_and_budget_may_change_between_sessions(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": "a", "prompt": "hi"}, {"id": "b", "prompt": "there"}]
    out = tmp_path / "out"
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        first = make_job(
            rows, provider={"base_url": emulator.base_url}, limits={"concurrency": 2}
        )
        assert (
            run_cli("run", str(first), "--out", str(out), "--quiet", env=KEY).returncode
            == 0
        )
        second = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            limits={"concurrency": 4, "budget_usd": 5.0},
        )
        again = run_cli("run", str(second), "--out", str(out), "--quiet", env=KEY)
    assert again.returncode == 0, again.stderr


def test_a_locked_dir_is_refused(make_job: JobWriter, tmp_path: Path) -> None:
    rows = [{"id": f"l{i}", "prompt": f"l{i} [[emu:hang=10]]"} for i in range(4)]
    out = tmp_path / "out"
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            rows,
            provider={"base_url": emulator.base_url},
            limits={"request_timeout_s": 30.0},
        )
        holder = start_cli(
            "run", str(job), "--out", str(out), "--quiet", "--grace", "0"
        )
        try:
            wait_for_in_flight(emulator, 1)  # the holder is mid-request
            second = run_cli("run", str(job), "--out", str(out), "--quiet", env=KEY)
            assert second.returncode == 2
            assert "in use" in second.stderr
        finally:
            holder.send_signal(signal.SIGINT)
            holder.communicate(timeout=30)


def test_an_unusable_output_dir_is_a_clear_error(
    make_job: JobWriter, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    job = make_job([{"id": "a", "prompt": "hi"}])
    done = run_cli("run", str(job), "--out", str(blocker / "out"), env=KEY)
    assert done.returncode == 2
    assert str(blocker) in done.stderr
