"""One run of a job: assemble -> session -> finalize. The journal is the source of truth.

A row counts as done only once its outcome is committed to the journal, so a run killed at any moment resumes
by skipping the ids the journal holds, and a reply the provider returned (and billed) is never asked for again.
The Parquet dataset and summary.json are rebuilt from the journal at the end of every session, interrupted or
not. Errors leave here as the one `PipelineError` that ended the run, never as an exception group: the caller
(the CLI, the Python API) maps it to one message and an exit code.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio

from pipeline.errors import OutputError, PipelineError
from pipeline.results import remove_image_leftovers
from pipeline.spec import JobSpec
from pipeline.store import LIVE_PHASES, Journal, RunJournal
from pipeline.transport import HttpTransport, Transport

from ._assemble import assemble, make_runner
from ._cache import RunCache
from ._finalize import SessionEnd, write_outputs
from ._options import RunOptions, RunResult
from ._progress import RunStats
from ._session import Session

__all__ = ("collapse_errors", "run_job")


async def run_job(
    spec: JobSpec,
    options: RunOptions,
    *,
    transport: Transport | None = None,
    stats: RunStats | None = None,
) -> RunResult:
    """Run (or resume) `spec` into `options.out_dir`.

    Raises `SpecError`, `CredentialsError` or `OutputError` before anything is sent when the job cannot start;
    `CredentialsError` also when the provider refuses the key mid-run, and `OutputError` when the run directory
    fills up mid-run (after journaling what was done; the next run resumes).
    """
    async with collapse_errors():
        return await _run(spec, options, transport, stats or RunStats())


async def _run(
    spec: JobSpec,
    options: RunOptions,
    transport: Transport | None,
    stats: RunStats,
) -> RunResult:
    wall_start = time.monotonic()
    # The run's identity is the spec as written: an emulator on another port is the same job.
    fingerprint, description = spec.fingerprint(), spec.describe()
    parts = assemble(spec, options)
    journal = Journal.open(
        options.out_dir,
        fingerprint=fingerprint,
        spec_description=description,
        allow_spec_change=options.allow_spec_change,
        durable=options.durable_journal,
    )
    _refuse_live_batches(journal, options)
    # Images a crash left half-written; safe now that this run holds DIR's lock.
    await anyio.to_thread.run_sync(remove_image_leftovers, options.out_dir)
    async with journal, AsyncExitStack() as stack:
        if transport is None:
            transport = await stack.enter_async_context(
                HttpTransport(concurrency=parts.spec.limits.concurrency)
            )
        runner, media, cache = make_runner(parts, options, journal, transport, stats)
        session = Session(parts.spec, options, journal, runner, parts.credentials)
        if cache is None:
            await session.drive()
        else:
            await _drive_with_cache(session, cache)
        if parts.spec.media.delete_uploads and media.uploads is not None:
            # [media] delete_uploads: they would expire in 48 h anyway, but some users must not leave them.
            with anyio.CancelScope(shield=True):
                await media.uploads.delete_all()
        session.save_daily()
        await (
            journal.flush()
        )  # the results are rebuilt from the journal: every outcome must be in it
        end = SessionEnd(
            fingerprint=fingerprint,
            wall_start=wall_start,
            stopped=session.stop,
            complete=session.stop is None and session.fatal is None,
        )
        summary = await write_outputs(
            journal,
            parts.spec,
            options.out_dir,
            stats,
            end,
            options.limit,
            session.counters,
        )
        if session.fatal is not None:
            raise session.fatal
    return RunResult(
        out_dir=options.out_dir, summary=summary, stats=stats, stopped=session.stop
    )


async def _drive_with_cache(session: Session, cache: RunCache) -> None:
    """The session between the cache's creation (or reuse) and its deletion, renewing its TTL meanwhile."""
    await cache.open()
    try:
        async with anyio.create_task_group() as renewals:
            renewals.start_soon(cache.renew_forever)
            await session.drive()
            renewals.cancel_scope.cancel()
    finally:
        await cache.close()


def _refuse_live_batches(journal: RunJournal, options: RunOptions) -> None:
    """An online run must not send rows that wait in batch jobs (they would be paid for twice)."""
    if not isinstance(journal, Journal):
        return
    live = journal.batch_jobs(LIVE_PHASES)
    if live:
        journal.close()
        raise OutputError(
            f"{options.out_dir} has {len(live)} batch job(s) still running on the provider's side; collect them "
            f"with `pipeline run JOB --mode batch --out {options.out_dir}`, or cancel them with "
            f"`pipeline cancel {options.out_dir}`, before running it online"
        )


@asynccontextmanager
async def collapse_errors() -> AsyncIterator[None]:
    """Turn an exception group that holds a `PipelineError` into that error (the first one, depth first).

    A task that fails inside a task group (a journal commit on a full disk, a refused key) reaches the caller
    wrapped in an `ExceptionGroup`, beside the cancellations it caused. What ended the run is the pipeline
    error inside; a group without one is a bug and stays as it is, traceback and all.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        error = _first_pipeline_error(group)
        if error is None:
            raise
        raise error from group


def _first_pipeline_error(
    group: BaseExceptionGroup[BaseException],
) -> PipelineError | None:
    for exc in group.exceptions:
        if isinstance(exc, PipelineError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_pipeline_error(exc)
            if found is not None:
                return found
    return None
