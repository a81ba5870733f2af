"""One session of a run: the reader, the workers, the signal watcher and the checkpoints, in task groups.

Stopping: the first SIGINT/SIGTERM, a spent budget, the daily request limit, or a run-level refusal from the
provider (a retired model, billing, a used-up daily quota, the circuit breaker) closes the `RunGate`: no new
request is sent, and the requests in flight finish (for `grace_s` after a signal) and are journaled. A second
signal cancels them at once. Either way what was journaled is kept and the run is resumable; rows that were not
reached stay pending.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice

import anyio
from anyio.abc import TaskGroup

from pipeline.errors import CredentialsError, Interrupted, RunStopped
from pipeline.input import count_rows, iter_rows
from pipeline.policy import quota_day
from pipeline.providers import Credentials
from pipeline.records import InvalidRow, Outcome, Row
from pipeline.spec import JobSpec
from pipeline.store import RunJournal

from ._feed import Feed
from ._finalize import SessionCounters
from ._options import RunOptions
from ._row import RowRunner

READ_BATCH = 512
COUNT_GRACE_S = 10.0  # how long the end of a session waits for the input's row count


def _batches(rows: Iterator[Row | InvalidRow], size: int) -> list[Row | InvalidRow]:
    return list(islice(rows, size))


class Session:
    """The mutable state of one session; `run_job` makes one and calls `drive()`."""

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
        self.credentials = credentials
        self.counters = SessionCounters(journal)
        self._counted = anyio.Event()

    async def drive(self) -> None:
        """Run every row not yet done, until the input is used up or the session stops."""
        concurrency = self.spec.limits.concurrency
        feed = Feed(max(64, concurrency * 2), concurrency)
        async with anyio.create_task_group() as outer:
            if self.options.handle_signals:
                outer.start_soon(self.watch_signals, outer)
            outer.start_soon(self.checkpoint)
            outer.start_soon(self.count_total)
            async with anyio.create_task_group() as work:
                self.work_scope = work.cancel_scope
                work.start_soon(self.produce, feed)
                for _ in range(concurrency):
                    work.start_soon(self.work, feed)
            # A session that stops on its first rows must still know how many the input has (pending rows in
            # summary.json): give the count a few seconds more before giving up on it (not after Ctrl+C).
            grace = 0.0 if isinstance(self.stop, Interrupted) else COUNT_GRACE_S
            with anyio.move_on_after(grace):
                await self._counted.wait()
            outer.cancel_scope.cancel()

    def request_stop(self, reason: RunStopped) -> None:
        if self.stop is None:
            self.stop = reason
            self.runner.gate.stopped = reason
            self.stats.stopping = type(reason).__name__

    async def produce(self, feed: Feed) -> None:
        rows = iter_rows(self.spec)
        limit = self.options.limit
        taken = 0
        try:
            while self.stop is None and await feed.wait_for_room():
                size = READ_BATCH if limit is None else min(READ_BATCH, limit - taken)
                batch = await anyio.to_thread.run_sync(_batches, rows, size)
                taken += len(batch)
                chosen = batch
                if (only := self.options.only_ids) is not None:
                    chosen = [item for item in batch if item.id in only]
                fresh = [item for item in chosen if item.id not in self.skip]
                self.stats.skipped += len(chosen) - len(fresh)
                feed.put(fresh)
                if len(batch) < READ_BATCH:
                    return  # the input (or --limit) is used up
        finally:
            feed.close()

    async def work(self, feed: Feed) -> None:
        try:
            while self.stop is None:
                item = await feed.get()
                if item is None:
                    return
                try:
                    outcome = await self._outcome(item)
                except RunStopped as exc:  # the row stays pending
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
                # The slot frees only once the outcome is committed: a kill -9 then re-pays only requests in flight.
                await self.journal.record(outcome)
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
                self.save_daily()
                self.counters.save(self.stats)
                last_saved = now
            await anyio.sleep(0.5)

    def save_daily(self) -> None:
        daily = self.runner.limits.daily
        self.journal.save_meta(
            "requests_today", {"day": daily.day, "count": daily.sent}
        )

    async def count_total(self) -> None:
        total = await anyio.to_thread.run_sync(
            count_rows, self.spec.input, abandon_on_cancel=True
        )
        if self.options.limit is not None:
            total = min(total, self.options.limit)
        if self.options.only_ids is not None:
            total = min(total, len(self.options.only_ids))
        self.stats.total_rows = total
        self.journal.save_meta("input_rows", total)
        self._counted.set()


def sent_today(journal: RunJournal) -> int:
    """Requests an earlier session sent on Google's current day (midnight Pacific), for requests_per_day."""
    saved = journal.load_meta("requests_today")
    if isinstance(saved, dict) and saved.get("day") == quota_day():
        count = saved.get("count")
        return int(count) if isinstance(count, int) else 0
    return 0
