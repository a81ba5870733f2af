"""`pipeline run --ray` on a local Ray cluster started by the test (2 CPUs: two worker processes), against the
emulator enforcing one server-side limit: no window over it, one result row per id, and a worker killed
mid-run re-pays at most its requests in flight."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pyarrow.dataset as ds
import pytest
from conftest import S3
from support import ROOT, JobWriter

from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.engine import RunOptions, RunResult
from pipeline.spec import load_spec

ray = pytest.importorskip(
    "ray", reason="the cluster tests need Ray: pip install -e '.[scale]'"
)

pytestmark = pytest.mark.slow  # starting Ray alone takes about 10 s here
KEY = {"GEMINI_API_KEY": "cluster-key"}
WINDOW_S = 10.0
LIMIT = 150  # per window: 15 requests/s for the whole cluster
CONCURRENCY = 6


@pytest.fixture(scope="module")
def cluster(s3_server: S3) -> Iterator[None]:
    # The workers inherit this environment: the S3 server's variables must be set before Ray starts.
    saved = {key: os.environ.get(key) for key in s3_server.env}
    os.environ.update(s3_server.env)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_in_thread(
    spec: Any, out: Path, shard_rows: int
) -> tuple[threading.Thread, list[Any]]:
    from pipeline.modes.cluster import run_cluster

    box: list[Any] = []
    tmp_dir = str(out) if isinstance(out, Path) else "."

    def target() -> None:
        async def main() -> RunResult:
            options = RunOptions(
                out_dir=Path(tmp_dir),
                environ={**os.environ, **KEY},
                handle_signals=False,
            )
            return await run_cluster(spec, options, out, shard_rows=shard_rows)

        try:
            box.append(anyio.run(main))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def paid_twice(ledger: dict[str, Any]) -> int:
    return sum(max(0, int(body["ok"]) - 1) for body in ledger["requests_by_body"])


def check_quota(ledger: dict[str, Any]) -> None:
    assert int(ledger["rate_limited"]) == 0, ledger["rate_limited"]
    assert max(ledger["per_window"]) <= LIMIT, ledger["per_window"]


def job(make_job: JobWriter, emulator: EmulatorThread, rows: int) -> Any:
    return load_spec(
        make_job(
            [{"id": f"c{i:04d}", "prompt": f"c{i:04d} summarise"} for i in range(rows)],
            provider={"base_url": emulator.base_url},
            limits={
                "concurrency": CONCURRENCY,
                "requests_per_minute": LIMIT * 60 / WINDOW_S,
            },
        )
    )


def test_shards_share_one_limit_and_compact_to_one_row_per_id(
    cluster: None, make_job: JobWriter, tmp_path: Path
) -> None:
    config = EmulatorConfig(port=0, latency_ms=100.0, rpm=LIMIT, window_s=WINDOW_S)
    with EmulatorThread(config) as emulator:
        spec = job(make_job, emulator, 240)
        thread, box = run_in_thread(spec, tmp_path / "out", shard_rows=60)
        thread.join(timeout=240)
        ledger = emulator.ledger()
    (result,) = box
    assert isinstance(result, RunResult), result
    assert result.stopped is None
    assert len(result.summary["worker_pids"]) >= 2  # two worker processes sent requests
    table = ds.dataset(tmp_path / "out" / "results").to_table().to_pylist()
    assert len(table) == 240 and len({r["id"] for r in table}) == 240
    assert Counter(r["status"] for r in table) == {"ok": 240}
    check_quota(ledger)
    assert int(ledger["requests"]) == 240
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows"]["ok"] == 240 and summary["shards"] == 4
    status = subprocess.run(
        [sys.executable, "-m", "pipeline", "status", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert status.returncode == 0 and "240 ok" in status.stdout, status.stderr


def test_a_killed_worker_is_replaced_and_repays_at_most_its_requests_in_flight(
    cluster: None, make_job: JobWriter, tmp_path: Path
) -> None:
    from pipeline.modes.cluster import quota_actor_name
    from pipeline.storage import location

    config = EmulatorConfig(port=0, latency_ms=100.0, rpm=LIMIT, window_s=WINDOW_S)
    out = tmp_path / "out"
    with EmulatorThread(config) as emulator:
        spec = job(make_job, emulator, 240)
        thread, box = run_in_thread(spec, out, shard_rows=120)
        deadline = time.monotonic() + 120
        victim = None
        while victim is None:
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.2)
            if int(emulator.ledger()["requests"]) < 60:
                continue
            actor = ray.get_actor(quota_actor_name(location(out)))
            progress = ray.get(actor.state.remote())["progress"]
            busy = [
                c
                for c in progress.values()
                if c["in_flight"] and c["requests_sent"] > 10
            ]
            if busy:
                victim = int(busy[0]["pid"])
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=240)
        ledger = emulator.ledger()
    (result,) = box
    assert isinstance(result, RunResult), result
    table = ds.dataset(out / "results").to_table().to_pylist()
    assert len(table) == 240 and len({r["id"] for r in table}) == 240
    assert Counter(r["status"] for r in table) == {"ok": 240}
    # what the killed worker had in flight, and replies still waiting for their group commit
    assert paid_twice(ledger) <= 2 * CONCURRENCY
    check_quota(ledger)


def test_a_killed_driver_rerun_with_the_same_command_resumes_every_shard(
    make_job: JobWriter, tmp_path: Path
) -> None:
    # Its own Ray (`--ray local`, started by the driver), so it must not share the module's cluster.
    config = EmulatorConfig(port=0, latency_ms=200.0, rpm=LIMIT, window_s=WINDOW_S)
    out = tmp_path / "out"
    with EmulatorThread(config) as emulator:
        spec = job(make_job, emulator, 240)
        command = [
            sys.executable, "-m", "pipeline", "run", str(spec.path), "--out", str(out),
            "--ray", "local", "--shard-rows", "60", "--quiet",
        ]  # fmt: skip
        env = {**os.environ, **KEY}
        first = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while int(emulator.ledger()["requests"]) < 60:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.1)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
        # Ray stops the orphaned shard workers (the job's cleanup, or their next lease once the quota actor,
        # which shares the driver's fate, is gone); what they finished is journaled. Wait until nothing arrives.
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < 2.0:
            now = int(emulator.ledger()["requests"])
            if now != seen:
                seen, quiet_since = now, time.monotonic()
            assert time.monotonic() < deadline + 60, (
                "the orphaned workers never stopped"
            )
            time.sleep(0.1)
        second = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        ledger = emulator.ledger()
    assert second.returncode == 0, second.stderr[-2000:]
    table = ds.dataset(out / "results").to_table().to_pylist()
    assert len(table) == 240 and len({r["id"] for r in table}) == 240
    assert Counter(r["status"] for r in table) == {"ok": 240}
    # two shards ran at once (2 CPUs): what they had in flight, and replies awaiting their group commit
    assert paid_twice(ledger) <= 2 * 2 * CONCURRENCY
    check_quota(ledger)


def test_a_cluster_run_into_s3_checkpoints_its_shards_and_compacts_there(
    cluster: None, s3_server: S3, make_job: JobWriter, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    out = f"s3://{bucket}/cluster-run"
    config = EmulatorConfig(port=0, latency_ms=50.0, rpm=LIMIT, window_s=WINDOW_S)
    with EmulatorThread(config) as emulator:
        spec = job(make_job, emulator, 90)
        thread, box = run_in_thread(spec, out, shard_rows=30)
        thread.join(timeout=240)
    (result,) = box
    assert isinstance(result, RunResult), result
    fs = s3_server.filesystem()
    table = ds.dataset(f"{bucket}/cluster-run/results", filesystem=fs).to_table()
    assert table.num_rows == 90 and len(set(table.column("id").to_pylist())) == 90
    keys = {
        o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    }
    assert {f"cluster-run/shards/{k}/journal.sqlite" for k in range(3)} <= keys
    assert "cluster-run/shards/plan.json" in keys and "cluster-run/summary.json" in keys
    status = subprocess.run(
        [sys.executable, "-m", "pipeline", "status", out],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, **s3_server.env},
    )  # fmt: skip
    assert status.returncode == 0 and "90 ok" in status.stdout, status.stderr
