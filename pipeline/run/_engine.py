"""One run of a job: source -> bounded stream -> workers -> journal, then the Parquet results and summary.

The journal is the source of truth. A row counts as done only once its outcome is committed there, so a run
killed at any moment resumes by skipping the ids the journal holds, and a reply the provider returned (and
billed) is never asked for again. The Parquet dataset and summary.json are rebuilt from the journal at the end of
every session, interrupted or not.

Stopping: the first SIGINT/SIGTERM (or a spent budget, or the daily request limit) stops admitting rows and lets
the requests in flight finish for `grace_s`; a second signal cancels them at once. Either way what was journaled
is kept, the results are written, and the run is resumable.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from pipeline.auth import resolve_credentials
from pipeline.catalog import DEFAULT_OUTPUT_LIMIT, model_info, price_for
from pipeline.errors import (
    BudgetExhausted,
    CredentialsError,
    DailyLimitReached,
    Interrupted,
    RunStopped,
    SpecError,
)
from pipeline.input import build_prompt, count_rows, iter_rows
from pipeline.media import build_media_parts, media_context
from pipeline.policy import Budget, Limits, PermitSource, RetryPolicy
from pipeline.providers import Credentials, make_provider
from pipeline.records import InvalidRow, Outcome, Prompt, Row
from pipeline.results import remove_image_leftovers
from pipeline.spec import JobSpec
from pipeline.store import Journal, RunJournal
from pipeline.transport import AiohttpTransport, Transport

from ._finalize import SessionCounters, SessionEnd, write_outputs
from ._progress import RunStats
from ._row import RowRunner

READ_BATCH = 512


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a job, beyond what its spec says (mostly from the command line)."""

    out_dir: Path
    retry_failed: bool = False
    limit: int | None = None
    allow_spec_change: bool = False
    base_url: str | None = None  # --emulator: where the embedded emulator listens
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    durable_journal: bool = (
        True  # benchmark-only switch: False keeps the journal in memory
    )
    grace_s: float = 30.0
    handle_signals: bool = True
    # A quota (rate, tokens, daily requests, budget) shared with other workers (--ray); None: this run's own.
    permits: PermitSource | None = None


@dataclass(slots=True)
class RunResult:
    """How a session ended: `stopped` is None when every row was attempted."""

    out_dir: Path
    summary: dict[str, object]
    stats: RunStats
    stopped: RunStopped | None = None


def output_dir(spec: JobSpec, out: Path | str | None) -> Path | str:
    """--out wins, then the spec's [output] dir, then ./out/<name>; a URL (s3://...) is returned as given."""
    if out is not None:
        return out
    if spec.output.dir is not None:
        return spec.output.dir
    return Path.cwd() / "out" / spec.name


def _batches(rows: Iterator[Row | InvalidRow], size: int) -> list[Row | InvalidRow]:
    return list(islice(rows, size))


class _Feed:
    """The rows between the reader and the workers: a deque that workers pop without an await per row.

    An anyio memory stream costs two event-loop turns per row (a checkpoint on each side), a tenth of the
    engine's own time per row at zero latency; here only a worker that finds the deque empty waits. Bounded:
    the reader tops it up by a batch only once fewer than `low_water` rows are queued.
    """

    def __init__(self, low_water: int, workers: int) -> None:
        self._rows: deque[Row | InvalidRow] = deque()
        self._low_water = low_water
        self._workers = workers
        self._closed = False
        self._arrived = anyio.Event()
        self._room = anyio.Event()

    def put(self, items: Iterable[Row | InvalidRow]) -> None:
        self._rows.extend(items)
        self._arrived.set()

    def close(self) -> None:
        """The reader is done: workers drain what is queued, then `get()` returns None."""
        self._closed = True
        self._arrived.set()

    def leave(self) -> None:
        """A worker stopped; once all have, the reader stops waiting for room."""
        self._workers -= 1
        if self._workers <= 0:
            self._room.set()

    async def wait_for_room(self) -> bool:
        """Wait until the queue runs low; False when every worker has left (nothing more will be taken)."""
        while len(self._rows) >= self._low_water and self._workers > 0:
            if self._room.is_set():
                self._room = anyio.Event()
            await self._room.wait()
        return self._workers > 0

    async def get(self) -> Row | InvalidRow | None:
        while not self._rows:
            if self._closed:
                return None
            if self._arrived.is_set():  # set for rows that other workers took first
                self._arrived = anyio.Event()
            await self._arrived.wait()
        item = self._rows.popleft()
        if len(self._rows) < self._low_water:
            self._room.set()
        return item


class _Run:
    """The mutable state of one session; `run_job` is its only user."""

    def __init__(
        self,
        spec: JobSpec,
        options: RunOptions,
        journal: RunJournal,
        runner: RowRunner,
        credentials: Credentials,
    ) -> None:
        self.spec = spec
        self.options = options
        self.journal = journal
        self.runner = runner
        self.stats = runner.stats
        self.stop: RunStopped | None = None
        self.fatal: BaseException | None = None
        self.work_scope: anyio.CancelScope | None = None
        self.skip = journal.final_ids(retry_failed=options.retry_failed)
        self.fingerprint = spec.fingerprint()
        self.credentials = credentials
        self.counters = SessionCounters(journal)

    def request_stop(self, reason: RunStopped) -> None:
        if self.stop is None:
            self.stop = reason
            self.stats.stopping = type(reason).__name__

    async def produce(self, feed: _Feed) -> None:
        rows = iter_rows(self.spec)
        limit = self.options.limit
        taken = 0
        try:
            while self.stop is None and await feed.wait_for_room():
                size = READ_BATCH if limit is None else min(READ_BATCH, limit - taken)
                batch = await anyio.to_thread.run_sync(_batches, rows, size)
                taken += len(batch)
                fresh = [item for item in batch if item.id not in self.skip]
                self.stats.skipped += len(batch) - len(fresh)
                feed.put(fresh)
                if len(batch) < READ_BATCH:
                    return  # the input (or --limit) is used up
        finally:
            feed.close()

    async def work(self, feed: _Feed) -> None:
        try:
            while self.stop is None:
                item = await feed.get()
                if item is None:
                    return
                try:
                    outcome = await self._outcome(item)
                except (BudgetExhausted, DailyLimitReached) as exc:
                    self.request_stop(exc)
                    return
                except CredentialsError as exc:
                    self.fatal = exc
                    self.request_stop(
                        Interrupted("stopped: the provider refused the credentials")
                    )
                    if self.work_scope is not None:
                        self.work_scope.cancel()
                    return
                # Twice the concurrency: at zero latency a group commit's fsync outlasts one wave of replies.
                await self.journal.submit(
                    outcome, max_unsaved=2 * self.spec.limits.concurrency
                )
                self.stats.row_done(outcome)
        finally:
            feed.leave()

    async def _outcome(self, item: Row | InvalidRow) -> Outcome:
        if isinstance(item, InvalidRow):
            now = datetime.now(UTC)
            kept = {
                name: item.fields.get(name) for name in self.spec.output.keep_fields
            }
            return Outcome(
                id=item.id,
                status="invalid",
                error_code="INVALID_ROW",
                error_message=f"line {item.line}: {item.reason}",
                started_at=now,
                finished_at=now,
                line=item.line,
                kept=kept,
            )
        return await self.runner.run(item)

    async def watch_signals(self, task_group: TaskGroup) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if not isinstance(self.stop, Interrupted):
                    name = signal.Signals(signum).name
                    self.request_stop(
                        Interrupted(f"{name}: stopped admitting rows; resumable")
                    )
                    task_group.start_soon(self._cancel_work_after, self.options.grace_s)
                elif self.work_scope is not None:
                    self.work_scope.cancel()  # a second signal: do not wait for the requests in flight

    async def _cancel_work_after(self, seconds: float) -> None:
        await anyio.sleep(seconds)
        if self.work_scope is not None:
            self.work_scope.cancel()

    async def checkpoint(self) -> None:
        """Mirror limiter state into the stats and persist the daily request count, twice a second."""
        limits = self.runner.limits
        last_saved = 0.0
        while True:
            await self.credentials.refresh_if_needed()  # gcloud tokens live an hour
            state = limits.rate.state()
            self.stats.pacing_per_s = state.requests_per_s
            self.stats.paused_for_s = state.paused_for_s
            now = time.monotonic()
            if now - last_saved > 5.0:
                self._save_daily()
                self.counters.save(self.stats)
                last_saved = now
            await anyio.sleep(0.5)

    def _save_daily(self) -> None:
        today = datetime.now(UTC).date().isoformat()
        self.journal.save_meta(
            "requests_today", {"day": today, "count": self.runner.limits.daily.sent}
        )


def _sent_today(journal: RunJournal) -> int:
    saved = journal.load_meta("requests_today")
    if (
        isinstance(saved, dict)
        and saved.get("day") == datetime.now(UTC).date().isoformat()
    ):
        count = saved.get("count")
        return int(count) if isinstance(count, int) else 0
    return 0


def _environ_for(options: RunOptions, spec: JobSpec) -> Mapping[str, str]:
    """Against the embedded emulator no real key is needed: fill every key variable that is not set."""
    if options.base_url is None:
        return options.environ
    names = {"GEMINI_API_KEY", "OPENAI_API_KEY", "VERTEX_ACCESS_TOKEN"}
    names.update(
        name for name in (spec.provider.api_key_env, spec.provider.token_env) if name
    )
    filler = {name: "emulator-key" for name in names if not options.environ.get(name)}
    return {**options.environ, **filler}


def _provider_spec(spec: JobSpec, options: RunOptions) -> JobSpec:
    if options.base_url is None:
        return spec
    base = options.base_url.rstrip("/")
    url = base + "/v1" if spec.provider.kind == "openai" else base
    return replace(spec, provider=replace(spec.provider, base_url=url))


async def run_job(
    spec: JobSpec,
    options: RunOptions,
    *,
    transport: Transport | None = None,
    stats: RunStats | None = None,
) -> RunResult:
    """Run (or resume) `spec` into `options.out_dir`.

    Raises `SpecError`, `CredentialsError` or `OutputError` before anything is sent when the job cannot start;
    `CredentialsError` also when the provider refuses the key mid-run (after journaling what was done).
    """
    stats = stats or RunStats()
    wall_start = time.monotonic()
    # The run's identity is the spec as written: an emulator on another port is the same job.
    fingerprint, description = spec.fingerprint(), spec.describe()
    spec = _provider_spec(spec, options)
    environ = _environ_for(options, spec)
    credentials = resolve_credentials(spec.provider, environ)
    provider = make_provider(spec.provider, credentials)
    price = price_for(spec.provider.model, spec.pricing.overrides())
    if spec.limits.budget_usd is not None and price is None:
        raise SpecError(
            f"budget_usd needs a price, and there is none for model {spec.provider.model!r}: add a [pricing] "
            "table with input_per_million and output_per_million",
            file=str(spec.path),
            key="limits.budget_usd",
        )
    info = model_info(spec.provider.model)
    out_dir = options.out_dir
    journal = Journal.open(
        out_dir,
        fingerprint=fingerprint,
        spec_description=description,
        allow_spec_change=options.allow_spec_change,
        durable=options.durable_journal,
    )
    # Images a crash left half-written; safe now that this run holds DIR's lock.
    await anyio.to_thread.run_sync(remove_image_leftovers, out_dir)
    own_transport = transport is None
    active_transport = transport or AiohttpTransport(
        concurrency=spec.limits.concurrency
    )
    async with journal:
        limits = Limits(
            requests_per_minute=spec.limits.requests_per_minute,
            tokens_per_minute=spec.limits.tokens_per_minute,
            requests_per_day=spec.limits.requests_per_day,
            sent_today=_sent_today(journal),
            permits=options.permits,
        )

        media = media_context(spec, provider, active_transport.send, journal)

        async def prepare(row: Row) -> Prompt:
            if not row.media:
                return build_prompt(row, spec)
            parts, tokens = await build_media_parts(row, media)
            return build_prompt(row, spec, parts, media_tokens=tokens)

        def forget_files(message: str) -> bool:
            return bool(media.uploads and media.uploads.forget_named(message))

        runner = RowRunner(
            provider=provider,
            transport=active_transport,
            prepare=prepare,
            limits=limits,
            budget=Budget(
                spec.limits.budget_usd, journal.spent_usd(), permits=options.permits
            ),
            policy=RetryPolicy(max_attempts=spec.limits.max_attempts),
            price=price,
            stats=stats,
            run_dir=out_dir,
            keep_fields=spec.output.keep_fields,
            timeout_s=spec.limits.request_timeout_s,
            max_output_tokens=info.output_token_limit if info else DEFAULT_OUTPUT_LIMIT,
            image_output=bool(info and info.image_output),
            forget_files=forget_files,
        )
        run = _Run(spec, options, journal, runner, credentials)
        run.fingerprint = fingerprint
        async with AsyncExitStack() as stack:
            if isinstance(active_transport, AiohttpTransport) and own_transport:
                await stack.enter_async_context(active_transport)
            await _drive(run, options, stats)
            if spec.media.delete_uploads and media.uploads is not None:
                # [media] delete_uploads: they would expire in 48 h anyway, but some users must not leave them.
                with anyio.CancelScope(shield=True):
                    await media.uploads.delete_all()
        run._save_daily()
        # the results are rebuilt from the journal: every outcome must be in it
        await journal.flush()
        end = SessionEnd(
            fingerprint=fingerprint,
            wall_start=wall_start,
            stopped=run.stop,
            complete=run.stop is None and run.fatal is None,
        )
        summary = await write_outputs(
            journal, spec, out_dir, stats, end, options.limit, run.counters
        )
        if run.fatal is not None:
            raise run.fatal
    return RunResult(out_dir=out_dir, summary=summary, stats=stats, stopped=run.stop)


async def _drive(run: _Run, options: RunOptions, stats: RunStats) -> None:
    feed = _Feed(max(64, run.spec.limits.concurrency * 2), run.spec.limits.concurrency)
    async with anyio.create_task_group() as outer:
        if options.handle_signals:
            outer.start_soon(run.watch_signals, outer)
        outer.start_soon(run.checkpoint)
        outer.start_soon(_count_total, run, stats)
        async with anyio.create_task_group() as work:
            run.work_scope = work.cancel_scope
            work.start_soon(run.produce, feed)
            for _ in range(run.spec.limits.concurrency):
                work.start_soon(run.work, feed)
        outer.cancel_scope.cancel()


async def _count_total(run: _Run, stats: RunStats) -> None:
    total = await anyio.to_thread.run_sync(
        count_rows, run.spec.input, abandon_on_cancel=True
    )
    if run.options.limit is not None:
        total = min(total, run.options.limit)
    stats.total_rows = total
    run.journal.save_meta("input_rows", total)
