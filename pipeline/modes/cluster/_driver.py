"""The driver of a cluster run: plan the shards, run each in a Ray task, show one progress, compact the results.

DIR (local, or a URL every node can reach) holds::

    DIR/shards/plan.json     the shards (row ranges), made once: a re-run of the same command finds it
    DIR/shards/<k>/          shard k's run directory: its journal, results, images (remote: checkpointed)
    DIR/results/             all shards' rows as one dataset, one row per input id
    DIR/summary.json         the shards' summaries added up

Each shard is a Ray task (`max_retries`): a worker that dies is replaced and its shard re-run, and since the
shard's journal holds every row it finished, it pays again at most for its requests that were in flight. A
killed driver is re-run with the same command: the plan is read back and every shard resumes from its journal.
All shards lease from one `QuotaActor`, so the job's `[limits]` hold for the cluster as a whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import time
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import ray

from pipeline.engine import RunOptions, RunResult, RunStats, run_job
from pipeline.errors import Interrupted, OutputError, RunStopped
from pipeline.input import plan_shards
from pipeline.modes.remote import run_remote
from pipeline.policy import QuotaConfig
from pipeline.records import Usage
from pipeline.spec import InputShard, JobSpec
from pipeline.storage import Location, location

from ._actor import QuotaActor, RayPermits
from ._compact import compact_results, merge_summaries, write_summary

SHARDS_DIR = "shards"
PLAN_NAME = "plan.json"
MAX_RETRIES = 3
PROGRESS_S = 0.5


def load_or_plan(spec: JobSpec, root: Location, shard_rows: int) -> list[InputShard]:
    """The shards of DIR: read back from DIR/shards/plan.json, or planned now (streaming the input once)."""
    plan_file = root / SHARDS_DIR / PLAN_NAME
    if plan_file.is_file():
        saved = json.loads(plan_file.read_bytes())
        return [
            InputShard(
                index=int(item["index"]),
                first_line=int(item["first_line"]),
                end_line=int(item["end_line"]),
                offset=int(item["offset"]),
                rows=int(item["rows"]),
                seen_before=tuple((str(i), int(n)) for i, n in item["seen_before"]),
            )
            for item in saved["shards"]
        ]
    shards = plan_shards(spec.input.path, shard_rows)
    plan = {
        "input": str(spec.input.path),
        "shard_rows": shard_rows,
        "shards": [dataclasses.asdict(shard) for shard in shards],
    }
    plan_file.write_bytes(json.dumps(plan).encode())
    return shards


def quota_actor_name(root: Location) -> str:
    """The named actor that holds DIR's quota (one per run directory)."""
    return "pipeline-quota-" + hashlib.sha256(root.url.encode()).hexdigest()[:12]


def _connect(address: str) -> bool:
    """Join (or start) the Ray cluster; True when this call started Ray in this process."""
    if ray.is_initialized():
        return False
    if address == "local":
        ray.init(log_to_driver=False, include_dashboard=False)
    else:
        ray.init(address=address, log_to_driver=False)
    return True


async def run_cluster(
    spec: JobSpec,
    options: RunOptions,
    out_dir: Path | str,
    *,
    address: str = "auto",
    shard_rows: int = 10_000,
    checkpoint_s: float = 30.0,
    stats: RunStats | None = None,
    shared_quota: bool = True,
) -> RunResult:
    """Run (or resume) `spec` on a Ray cluster into `out_dir`; see the module docstring.

    `shared_quota=False` is the benchmark's baseline: no quota actor leases; each of the N shards paces itself
    at `[limits]` / N.
    """
    stats = stats or RunStats()
    wall_start = time.monotonic()
    root = location(out_dir)
    started = await anyio.to_thread.run_sync(_connect, address)
    try:
        shards = await anyio.to_thread.run_sync(load_or_plan, spec, root, shard_rows)
        work = _limit(shards, options.limit)
        stats.total_rows = sum(shard.rows for shard, _ in work)
        options_of: Any = QuotaActor
        actor = options_of.options(
            name=quota_actor_name(root), get_if_exists=True
        ).remote(
            QuotaConfig(
                requests_per_minute=spec.limits.requests_per_minute,
                tokens_per_minute=spec.limits.tokens_per_minute,
                requests_per_day=spec.limits.requests_per_day,
                budget_usd=spec.limits.budget_usd,
                spent_usd=await anyio.to_thread.run_sync(_spent, root, shards),
            )
        )
        shard_options = replace(options, handle_signals=False, limit=None)
        shard_spec = spec
        if not shared_quota:
            split = max(1, len(work))
            rpm = spec.limits.requests_per_minute
            shard_spec = replace(
                spec,
                limits=replace(
                    spec.limits,
                    requests_per_minute=rpm / split if rpm else None,
                ),
            )
        refs = {
            _run_shard.options(max_retries=MAX_RETRIES).remote(
                replace(shard_spec, input=replace(spec.input, shard=shard)),
                replace(shard_options, limit=limit),
                str(root / SHARDS_DIR / str(shard.index)),
                actor,
                checkpoint_s,
                shard.index,
                shared_quota,
            ): shard.index
            for shard, limit in work
        }
        stopped: RunStopped | None = None
        outcomes: dict[int, dict[str, Any]] = {}
        workers: set[int] = set()
        async with anyio.create_task_group() as group:
            if options.handle_signals:
                group.start_soon(_watch_signals, list(refs), group.cancel_scope)
            pending = list(refs)
            while pending:
                ready, pending = await anyio.to_thread.run_sync(
                    partial(
                        ray.wait, pending, num_returns=len(pending), timeout=PROGRESS_S
                    )
                )
                for ref in ready:
                    try:
                        outcomes[refs[ref]] = ray.get(ref)
                    except (
                        ray.exceptions.TaskCancelledError,
                        ray.exceptions.RayTaskError,
                    ) as exc:
                        outcomes[refs[ref]] = {"error": str(exc).splitlines()[0]}
                state = await actor.state.remote()
                workers.update(_show(stats, state))
            group.cancel_scope.cancel()
        errors = [o["error"] for o in outcomes.values() if "error" in o]
        cancelled = any("cancel" in e.lower() for e in errors)
        if cancelled:
            stopped = Interrupted("SIGINT: the shards were cancelled; resumable")
        summaries = [o["summary"] for o in outcomes.values() if "summary" in o]
        shard_dirs = [root / SHARDS_DIR / str(shard.index) for shard, _ in work]
        await anyio.to_thread.run_sync(compact_results, root, shard_dirs)
        summary = merge_summaries(summaries)
        summary["wall_time_s"] = round(time.monotonic() - wall_start, 3)
        summary["ended"] = summary.get("stopped") or (
            "interrupted" if cancelled else "completed"
        )
        summary["ledger"] = (await actor.state.remote())["ledger"]
        summary["worker_pids"] = sorted(workers)
        await anyio.to_thread.run_sync(write_summary, root, summary)
        if stopped is None:
            stops = [o.get("stopped") for o in outcomes.values() if o.get("stopped")]
            if stops:
                stopped = Interrupted(f"a shard stopped: {stops[0]}")
        if errors and not cancelled:
            raise OutputError(f"{len(errors)} shard(s) failed: {errors[0]}")
    finally:
        if started:
            ray.shutdown()
    local = root.local or Path(".")
    return RunResult(out_dir=local, summary=summary, stats=stats, stopped=stopped)


def _spent(root: Location, shards: list[InputShard]) -> float:
    """What earlier sessions spent, from the shards' last summaries (a killed session's last requests may be
    missing: they were in flight)."""
    total = 0.0
    for shard in shards:
        summary = root / SHARDS_DIR / str(shard.index) / "summary.json"
        try:
            total += float(json.loads(summary.read_bytes()).get("spent_usd") or 0.0)
        except (OSError, ValueError, AttributeError):
            continue
    return total


def _limit(
    shards: list[InputShard], limit: int | None
) -> list[tuple[InputShard, int | None]]:
    """--limit N: the first N rows, so the first shards and part of the last one."""
    if limit is None:
        return [(shard, None) for shard in shards]
    work: list[tuple[InputShard, int | None]] = []
    left = limit
    for shard in shards:
        if left <= 0:
            break
        work.append((shard, left if left < shard.rows else None))
        left -= shard.rows
    return work


async def _watch_signals(refs: list[Any], scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            for ref in refs:
                ray.cancel(
                    ref
                )  # the shards stop, journal what they have and write their results
            return


def _show(stats: RunStats, state: dict[str, Any]) -> set[int]:
    """The shards' latest counters, summed into the driver's display; returns the workers' pids."""
    progress: dict[int, dict[str, Any]] = state["progress"]
    by_status: Counter[str] = Counter()
    usage = Usage()
    sent = in_flight = skipped = rate_limited = 0
    cost = 0.0
    for counters in progress.values():
        by_status.update(counters["by_status"])
        usage = usage + Usage(**counters["usage"])
        sent += counters["requests_sent"]
        in_flight += counters["in_flight"]
        skipped += counters["skipped"]
        rate_limited += counters["rate_limited"]
        cost += counters["cost_usd"]
    stats.by_status = by_status
    stats.usage = usage
    stats.requests_sent = sent
    stats.in_flight = in_flight
    stats.skipped = skipped
    stats.rate_limited = rate_limited
    stats.cost_usd = cost
    ledger = state["ledger"]
    stats.pacing_per_s = ledger.get("requests_per_s")
    return {int(counters["pid"]) for counters in progress.values()}


def _counters(stats: RunStats) -> dict[str, Any]:
    return {
        "by_status": dict(stats.by_status),
        "usage": dataclasses.asdict(stats.usage),
        "requests_sent": stats.requests_sent,
        "in_flight": stats.in_flight,
        "skipped": stats.skipped,
        "rate_limited": stats.rate_limited,
        "cost_usd": stats.cost_usd,
        "pid": os.getpid(),
    }


@ray.remote
def _run_shard(
    spec: JobSpec,
    options: RunOptions,
    out: str,
    actor: Any,
    checkpoint_s: float,
    index: int,
    shared_quota: bool = True,
) -> dict[str, Any]:
    """One shard, start to finish (or resumed), in a Ray worker: today's engine on the shard's rows."""
    stats = RunStats()
    permits = RayPermits(actor) if shared_quota else None

    async def report() -> None:
        while True:
            await actor.report.remote(index, _counters(stats))
            await anyio.sleep(PROGRESS_S)

    async def main() -> RunResult:
        async with anyio.create_task_group() as group:
            group.start_soon(report)
            where = location(out)
            if where.is_remote:
                result = await run_remote(
                    spec,
                    replace(options, permits=permits),
                    where,
                    checkpoint_s=checkpoint_s,
                    stats=stats,
                )
            else:
                result = await run_job(
                    spec,
                    replace(options, permits=permits, out_dir=Path(out)),
                    stats=stats,
                )
            group.cancel_scope.cancel()
        await actor.report.remote(index, _counters(stats))
        return result

    result = anyio.run(main)
    return {
        "summary": result.summary,
        "stopped": str(result.stopped) if result.stopped else None,
    }
