"""Batch mode end to end, as a user runs it: the CLI in a subprocess against the emulator's Batch API,
judged by the emulator's ledger (jobs created, lines answered, dollars billed at the batch price)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from support import ROOT, JobWriter, run_cli

from pipeline.emulator import EmulatorConfig, EmulatorThread

KEY = {"GEMINI_API_KEY": "batch-key"}
FAST = {"poll_interval_s": 0.2, "max_poll_interval_s": 0.5}


def emulator(**settings: Any) -> EmulatorThread:
    return EmulatorThread(EmulatorConfig(port=0, batch_pending_s=0.2, **settings))


def results(out: Path) -> dict[str, dict[str, Any]]:
    return {
        str(row["id"]): row
        for row in ds.dataset(out / "results").to_table().to_pylist()
    }


def summary(out: Path) -> dict[str, Any]:
    loaded = json.loads((out / "summary.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


def batch_ledger(emu: EmulatorThread) -> dict[str, Any]:
    ledger = emu.ledger()["batch"]
    assert isinstance(ledger, dict)
    return ledger


def rows_of(n: int, prefix: str = "r") -> list[dict[str, str]]:
    return [
        {"id": f"{prefix}{i:04d}", "prompt": f"{prefix}{i:04d} summarise item {i}"}
        for i in range(n)
    ]


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env={**os.environ, **KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_polls(emu: EmulatorThread, count: int, timeout: float = 60.0) -> None:
    """Wait until the run has created a job and polled it `count` times."""
    deadline = time.monotonic() + timeout
    while True:
        routes = emu.ledger()["requests_by_route"]
        assert isinstance(routes, dict)
        polls = sum(routes.get("GET /v1beta/batches/{id}", {}).values())
        if polls >= count:
            return
        assert time.monotonic() < deadline, "the run never started polling"
        time.sleep(0.05)


def test_500_rows_in_batch_mode_equal_the_online_run_at_half_the_cost(
    make_job: JobWriter, tmp_path: Path
) -> None:
    with emulator() as emu:
        job = make_job(
            rows_of(500),
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            batch=FAST,
        )
        online = run_cli(
            "run", str(job), "--out", str(tmp_path / "online"), "--quiet", env=KEY
        )
        assert online.returncode == 0, online.stderr
        batch = run_cli(
            "run",
            str(job),
            "--out",
            str(tmp_path / "batch"),
            "--mode",
            "batch",
            "--quiet",
            env=KEY,
        )
        assert batch.returncode == 0, batch.stderr
        ledger = batch_ledger(emu)
    by_online, by_batch = results(tmp_path / "online"), results(tmp_path / "batch")
    assert len(by_batch) == 500 and Counter(r["status"] for r in by_batch.values()) == {
        "ok": 500
    }
    columns = (
        "text",
        "finish_reason",
        "input_tokens",
        "output_tokens",
        "thinking_tokens",
        "total_tokens",
    )
    for row_id, row in by_online.items():
        assert {c: by_batch[row_id][c] for c in columns} == {
            c: row[c] for c in columns
        }, row_id
        assert by_batch[row_id]["attempts"] == 1
    online_cost = summary(tmp_path / "online")["cost_usd"]
    batch_summary = summary(tmp_path / "batch")
    assert batch_summary["mode"] == "batch" and batch_summary["ended"] == "completed"
    # what the emulator billed at the batch price is what the run says it cost: half the online run
    assert batch_summary["cost_usd"] == pytest.approx(ledger["cost_usd"], abs=2e-6)
    assert batch_summary["cost_usd"] == pytest.approx(online_cost / 2, abs=2e-6)
    assert ledger["jobs_created"] == 1 and ledger["lines"] == 500


@pytest.mark.slow
def test_kill_9_while_polling_then_a_rerun_collects_with_exactly_one_job(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with emulator(
        batch_rows_per_s=40.0
    ) as emu:  # 200 rows: about 5 s of work for the job
        job = make_job(
            rows_of(200),
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            batch=FAST,
        )
        proc = start_cli(
            "run", str(job), "--out", str(out), "--mode", "batch", "--quiet"
        )
        wait_for_polls(emu, 3)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert batch_ledger(emu)["jobs_finished"] == {}, "the job ended before the kill"
        final = run_cli(
            "run", str(job), "--out", str(out), "--mode", "batch", "--quiet", env=KEY
        )
        ledger = batch_ledger(emu)
    assert final.returncode == 0, final.stderr
    table = results(out)
    assert len(table) == 200 and Counter(r["status"] for r in table.values()) == {
        "ok": 200
    }
    assert ledger["jobs_created"] == 1 and ledger["lines"] == 200


def test_small_split_limits_make_several_jobs_whose_results_merge(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # The emulator's enqueued-token quota is the job limit: jobs created together pass it, so creates are
    # refused with 429 until earlier jobs finish, and the run waits instead of failing.
    with emulator(batch_enqueued_tokens=400) as emu:
        job = make_job(
            rows_of(120),
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            batch={**FAST, "max_job_tokens": 400, "max_file_bytes": 6000},
        )
        done = run_cli(
            "run", str(job), "--out", str(out), "--mode", "batch", "--quiet", env=KEY
        )
        ledger = batch_ledger(emu)
        routes = emu.ledger()["requests_by_route"]
    assert done.returncode == 0, done.stderr
    table = results(out)
    assert len(table) == 120 and Counter(r["status"] for r in table.values()) == {
        "ok": 120
    }
    jobs = summary(out)["batch"]["jobs"]
    assert ledger["jobs_created"] == len(jobs) >= 3 and ledger["lines"] == 120
    assert all(job["input_bytes"] <= 6000 for job in jobs)
    assert sum(job["rows"] for job in jobs) == 120
    assert isinstance(routes, dict)
    assert routes["POST /v1beta/models/{model}:batchGenerateContent"].get("429", 0) >= 1


@pytest.mark.slow
def test_an_expired_job_and_failed_lines_end_failed_and_retry_failed_sends_them_again(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    rows = rows_of(20)
    rows[3]["prompt"] += " [[emu:fail=400]]"
    rows[4]["prompt"] += " [[emu:max_tokens]]"
    rows[5]["prompt"] += " [[emu:block=SAFETY]]"
    with emulator(batch_expire_s=2.0) as emu:
        stalled = make_job(
            rows,
            name="job",
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            batch={**FAST, "label": "[[emu:batch_stall=0]]"},
        )
        expired = run_cli(
            "run",
            str(stalled),
            "--out",
            str(out),
            "--mode",
            "batch",
            "--quiet",
            env=KEY,
        )
        assert expired.returncode == 1, expired.stderr
        table = results(out)
        assert {r["status"] for r in table.values()} == {"failed"}
        assert {r["error_code"] for r in table.values()} == {"BATCH_EXPIRED"}
        assert "expired" in str(table["r0000"]["error_message"]).lower()
        assert "--retry-failed" in str(table["r0000"]["error_message"])
        # the same job without the stall: a plain re-run sends nothing, --retry-failed sends them all again
        healthy = make_job(
            rows,
            name="job",
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            batch=FAST,
        )
        again = run_cli(
            "run",
            str(healthy),
            "--out",
            str(out),
            "--mode",
            "batch",
            "--quiet",
            env=KEY,
        )
        assert again.returncode == 1 and batch_ledger(emu)["jobs_created"] == 1
        retried = run_cli(
            "run",
            str(healthy),
            "--out",
            str(out),
            "--mode",
            "batch",
            "--retry-failed",
            "--quiet",
            env=KEY,
        )
        ledger = batch_ledger(emu)
    assert retried.returncode == 1, retried.stderr
    table = results(out)
    statuses = {row_id: (r["status"], r["error_code"]) for row_id, r in table.items()}
    assert statuses.pop("r0003") == ("failed", "INVALID_ARGUMENT")
    assert statuses.pop("r0004") == ("truncated", "MAX_TOKENS")
    assert statuses.pop("r0005") == ("blocked", "SAFETY")
    assert set(statuses.values()) == {("ok", None)}
    assert table["r0003"]["error_message"]  # the server's own words
    assert ledger["jobs_created"] == 2 and ledger["jobs_finished"] == {
        "EXPIRED": 1,
        "SUCCEEDED": 1,
    }


def test_detach_exits_after_submission_and_a_rerun_collects(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with emulator(batch_rows_per_s=100.0) as emu:
        job = make_job(
            rows_of(100),
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            batch=FAST,
        )
        detached = run_cli(
            "run", str(job), "--out", str(out), "--mode", "batch", "--detach", env=KEY
        )
        assert detached.returncode == 3, detached.stderr
        assert "detached" in detached.stderr and "pipeline cancel" in detached.stderr
        assert (
            f"collect with: pipeline run {job} --out {out} --mode batch"
            in detached.stderr
        )
        table = results(out)
        assert Counter(r["status"] for r in table.values()) == {"pending": 100}
        assert {r["error_code"] for r in table.values()} == {"BATCH_RUNNING"}
        assert summary(out)["ended"] == "detached"
        status = run_cli("status", str(out))
        assert status.returncode == 0 and "batches/" in status.stdout, status.stdout
        # an online run must not send rows that wait in a batch job
        online = run_cli("run", str(job), "--out", str(out), "--quiet", env=KEY)
        assert online.returncode == 2 and "pipeline cancel" in online.stderr
        final = run_cli(
            "run", str(job), "--out", str(out), "--mode", "batch", "--quiet", env=KEY
        )
        ledger = batch_ledger(emu)
    assert final.returncode == 0, final.stderr
    assert Counter(r["status"] for r in results(out).values()) == {"ok": 100}
    assert ledger["jobs_created"] == 1 and ledger["lines"] == 100


@pytest.mark.slow
def test_ctrl_c_leaves_the_job_running_cancel_cancels_it_and_a_rerun_finishes(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with emulator() as emu:
        slow = make_job(
            rows_of(100),
            name="job",
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            batch={**FAST, "label": "[[emu:rows_per_s=10]]"},
        )
        proc = start_cli("run", str(slow), "--out", str(out), "--mode", "batch")
        wait_for_polls(emu, 3)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "keep running" in stderr and f"pipeline cancel {out}" in stderr
        assert batch_ledger(emu)["jobs_finished"] == {}  # still running on the server
        cancelled = run_cli("cancel", str(out), env=KEY)
        assert cancelled.returncode == 0, cancelled.stderr
        assert "cancelled 1 batch job" in cancelled.stderr
        time.sleep(0.3)
        assert batch_ledger(emu)["jobs_finished"] == {"CANCELLED": 1}
        answered = batch_ledger(emu)["lines"]
        assert 0 < answered < 100
        fast = make_job(
            rows_of(100),
            name="job",
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            batch=FAST,
        )
        final = run_cli(
            "run", str(fast), "--out", str(out), "--mode", "batch", "--quiet", env=KEY
        )
        ledger = batch_ledger(emu)
    assert final.returncode == 0, final.stderr
    assert Counter(r["status"] for r in results(out).values()) == {"ok": 100}
    # what the cancelled job answered was collected, only the rest went into a second job: no line twice
    assert ledger["jobs_created"] == 2 and ledger["lines"] == 100


def test_the_aggregators_openai_batches_work_the_same_way(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with emulator() as emu:
        job = make_job(
            rows_of(30),
            provider={
                "kind": "openai",
                "model": "gemini-3-flash-preview",
                "base_url": emu.base_url + "/v1",
            },
            batch=FAST,
        )
        done = run_cli(
            "run", str(job), "--out", str(out), "--mode", "batch", "--quiet",
            env={"OPENAI_API_KEY": "agg-key"},
        )  # fmt: skip
        ledger = batch_ledger(emu)
    assert done.returncode == 0, done.stderr
    table = results(out)
    assert Counter(r["status"] for r in table.values()) == {"ok": 30}
    assert all(str(r["text"]).startswith("Reply to") for r in table.values())
    assert ledger["jobs_by_door"] == {"openai": 1} and ledger["lines"] == 30
    assert summary(out)["cost_usd"] == pytest.approx(ledger["cost_usd"], abs=2e-6)


def test_the_budget_reserves_each_job_and_stops_when_the_next_cannot_fit(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with emulator() as emu:
        job = make_job(
            rows_of(60),
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            generation={"max_output_tokens": 2000, "thinking_level": "low"},
            limits={"budget_usd": 0.01},
            batch=FAST,
        )
        done = run_cli("run", str(job), "--out", str(out), "--mode", "batch", env=KEY)
        ledger = batch_ledger(emu)
    # each job holds at most what its rows could cost at worst (2,000 output tokens each at the batch price):
    # the budget buys several small jobs, one after another, and the run stops once the next cannot fit
    assert done.returncode == 3, done.stderr
    assert "budget_usd" in done.stderr
    table = results(out)
    statuses = Counter(r["status"] for r in table.values())
    assert statuses["ok"] > 0 and statuses["pending"] > 0
    assert summary(out)["spent_usd"] <= 0.01
    assert ledger["jobs_created"] >= 2
    assert ledger["cost_usd"] <= 0.01


def test_a_job_whose_intent_has_no_name_is_found_not_created_again(
    make_job: JobWriter, tmp_path: Path
) -> None:
    """A kill between the create call and recording its answer: the journal holds the intent only."""
    out = tmp_path / "out"
    with emulator() as emu:
        job = make_job(
            rows_of(40),
            provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
            batch=FAST,
        )
        detached = run_cli(
            "run", str(job), "--out", str(out), "--mode", "batch", "--detach", env=KEY
        )
        assert detached.returncode in (0, 3), detached.stderr
        with sqlite3.connect(out / "journal.sqlite") as conn:
            changed = conn.execute(
                "UPDATE batch_jobs SET phase = 'creating', remote_name = NULL, submitted_at = NULL"
                " WHERE phase IN ('submitted', 'collected')"
            ).rowcount
            conn.execute("DELETE FROM outcomes")
        assert changed == 1
        final = run_cli(
            "run", str(job), "--out", str(out), "--mode", "batch", "--quiet", env=KEY
        )
        ledger = batch_ledger(emu)
    assert final.returncode == 0, final.stderr
    assert Counter(r["status"] for r in results(out).values()) == {"ok": 40}
    assert ledger["jobs_created"] == 1


def test_batch_mode_is_refused_where_there_is_none(make_job: JobWriter) -> None:
    job = make_job(
        rows_of(1),
        provider={"kind": "vertex", "project": "p", "model": "gemini-3-flash-preview"},
    )
    refused = run_cli("run", str(job), "--mode", "batch", "--quiet", env=KEY)
    assert refused.returncode == 2
    assert 'not available on kind = "vertex"' in refused.stderr
    detach_online = run_cli("run", str(job), "--detach", "--quiet", env=KEY)
    assert (
        detach_online.returncode == 2
        and "--detach applies to batch mode" in detach_online.stderr
    )
