"""`pipeline run --mode batch`: one batch session, from assembled parts to the results, and `pipeline cancel`.

The same assembly (credentials, provider, price, every check that can refuse a job before anything is sent) and
the same finalize step (the journal replayed into DIR/results/ and summary.json) as an online run: only the
middle differs, jobs instead of requests (`_session`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import anyio

from pipeline.engine import (
    RunOptions,
    RunResult,
    RunStats,
    SessionEnd,
    assemble,
    collapse_errors,
    write_outputs,
)
from pipeline.errors import OutputError, SpecError
from pipeline.providers import make_provider, resolve_credentials
from pipeline.results import remove_image_leftovers
from pipeline.spec import JobSpec
from pipeline.store import LIVE_PHASES, Journal, JournalReader, holder_pid
from pipeline.transport import HttpTransport

from ._client import BatchClient, BatchTransport
from ._session import BatchSession

__all__ = ("CancelReport", "cancel_batches", "run_batch")


async def run_batch(
    spec: JobSpec,
    options: RunOptions,
    *,
    transport: BatchTransport | None = None,
    stats: RunStats | None = None,
    detach: bool = False,
) -> RunResult:
    """Run (or resume, or collect) `spec` in batch mode into `options.out_dir`.

    `detach` returns once every row is in a submitted job (`RunResult.stopped` is `Detached`, exit code 3);
    running again re-attaches to the jobs and collects them. Raises what `run_job` raises before anything is
    sent (`SpecError`, `CredentialsError`, `OutputError`), and `SpecError` for a provider without a batch mode.
    """
    async with collapse_errors():
        return await _run(spec, options, transport, stats or RunStats(), detach)


async def _run(
    spec: JobSpec,
    options: RunOptions,
    transport: BatchTransport | None,
    stats: RunStats,
    detach: bool,
) -> RunResult:
    wall_start = time.monotonic()
    fingerprint, description = spec.fingerprint(), spec.describe()
    parts = assemble(spec, options)
    if not parts.provider.supports_batch:
        raise SpecError(
            f'batch mode is not available on kind = "{spec.provider.kind}"', key="mode"
        )
    journal = Journal.open(
        options.out_dir,
        fingerprint=fingerprint,
        spec_description=description,
        allow_spec_change=options.allow_spec_change,
    )
    assert isinstance(journal, Journal)  # durable: batch mode needs the batch tables
    await anyio.to_thread.run_sync(remove_image_leftovers, options.out_dir)
    async with journal, AsyncExitStack() as stack:
        if transport is None:
            transport = await stack.enter_async_context(
                HttpTransport(concurrency=max(4, min(spec.limits.concurrency, 16)))
            )
        session = BatchSession(parts, options, journal, transport, stats, detach=detach)
        await session.drive()
        with contextlib.suppress(OSError):
            session.dir.rmdir()  # DIR/batch/ holds files only while a job is built or collected
        await journal.flush()
        waiting = _LiveRows(journal)
        end = SessionEnd(
            fingerprint=fingerprint,
            wall_start=wall_start,
            stopped=session.stop,
            complete=session.stop is None
            and session.fatal is None
            and not session.left_pending
            and not journal.batch_jobs(LIVE_PHASES),
        )
        summary = await write_outputs(
            journal,
            parts.spec,
            options.out_dir,
            stats,
            end,
            options.limit,
            session.counters,
            waiting=waiting,
            extra={"mode": "batch", "batch": session.summary()},
        )
        if session.fatal is not None:
            raise session.fatal
    return RunResult(
        out_dir=options.out_dir, summary=summary, stats=stats, stopped=session.stop
    )


@dataclass(frozen=True, slots=True)
class _LiveRows:
    """`row_id in live_rows`: a live job holds the row (asked of the journal row by row, never all in memory)."""

    journal: Journal

    def __contains__(self, row_id: object) -> bool:
        return isinstance(row_id, str) and self.journal.batch_is_live(row_id)


@dataclass(frozen=True, slots=True)
class CancelReport:
    """What `pipeline cancel DIR` did: the jobs it asked the provider to cancel, and the ones it could not."""

    cancelled: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]  # (job name, why)
    running_pid: (
        int | None
    )  # a run attached to DIR, which will collect what the jobs answered


async def cancel_batches(
    run_dir: Path,
    environ: Mapping[str, str],
    *,
    base_url: str | None = None,
    transport: BatchTransport | None = None,
) -> CancelReport:
    """Cancel every batch job of `run_dir` that is still running (a job whose create call was never answered
    is looked for by its display name first). Reads the journal only; takes no lock, so it works while a run
    waits on the jobs (that run then collects what they answered). `base_url` overrides the recorded one.

    :raises OutputError: DIR holds no run, or no batch jobs were ever started there.
    :raises CredentialsError: the key the run used is not set.
    """
    reader = JournalReader.open_readonly(run_dir)
    try:
        jobs = reader.batch_jobs(LIVE_PHASES)
        meta = reader.load_meta("batch_provider")
    finally:
        reader.close()
    if not isinstance(meta, dict):
        raise OutputError(
            f"{run_dir} holds no batch-mode run: there is nothing to cancel"
        )
    spec = _ProviderFields(
        kind=str(meta.get("kind")),
        model=str(meta.get("model")),
        base_url=base_url or _text(meta.get("base_url")),
        api_key_env=_text(meta.get("api_key_env")),
        image_endpoint=_text(meta.get("image_endpoint")) or "chat",
    )
    credentials = resolve_credentials(spec, environ)
    provider = make_provider(spec, credentials)
    stats = RunStats()
    cancelled: list[str] = []
    failed: list[tuple[str, str]] = []
    async with AsyncExitStack() as stack:
        if transport is None:
            transport = await stack.enter_async_context(HttpTransport(concurrency=4))
        from pipeline.policy import RetryPolicy

        client = BatchClient(provider, transport, RetryPolicy(max_attempts=4), stats)
        for job in jobs:
            name = job.remote_name
            if name is None:
                found = await client.find(job.display_name)
                if found is None:
                    continue  # never created: nothing runs
                name = found.name
            try:
                remote = await client.get(name)
                if not remote.done:
                    await client.cancel(name)
                cancelled.append(name)
            except Exception as exc:  # noqa: BLE001 (reported per job; the others are still cancelled)
                failed.append((name, str(exc)))
    return CancelReport(tuple(cancelled), tuple(failed), holder_pid(run_dir))


@dataclass(frozen=True, slots=True)
class _ProviderFields:
    """The provider fields `pipeline cancel` recovers from the journal (the spec is not needed)."""

    kind: str
    model: str
    base_url: str | None
    api_key_env: str | None
    image_endpoint: str = "chat"
    project: str | None = None
    location: str = "global"
    token_env: str | None = None
    quota_project: str | None = None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
