"""One session of a batch-mode run: recover, build and submit jobs, wait for them, collect them.

Two tasks share the session: the builder turns the rows that still need a reply into jobs (`JobDraft`:
keyed JSONL on disk, rows in the journal), uploads each input file and creates the job; the poller asks the
provider how each submitted job is doing (with backoff while nothing changes) and collects every job that ended.

Never submitted twice (the journal is the referee, `pipeline.store` has the tables):

1. a job's rows are in the journal before its input file is uploaded (phase `building`);
2. the intent (phase `creating`) is written, and synced, before the create call is sent;
3. the job's name is written as soon as create answers (phase `submitted`; shielded from Ctrl+C);
4. on resume, `building` jobs were never created and are abandoned (their rows are built again); a `creating`
   job is looked for in the provider's list by its display name, which carries the run's id for it: found, it
   is adopted; not found, it is created now; `submitted` jobs are polled again. A create that was refused
   (429: quota) made nothing; one whose answer never came (timeout, reset, 5xx) is looked for before it is
   sent again.

So a kill -9 at any moment, Ctrl+C, `--detach` or a crash never creates a second job for the same rows; rows
held by a live job are never built again nor sent online.
"""

from __future__ import annotations

import secrets
import signal
import time
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import anyio

from pipeline.catalog import max_image_tokens, worst_case_usd
from pipeline.engine import Parts, RunOptions, RunStats, SessionCounters
from pipeline.errors import (
    AttemptError,
    BudgetExhausted,
    CredentialsError,
    Detached,
    FileGone,
    Interrupted,
    RateLimited,
    ReplyInvalid,
    RequestRejected,
    RowInvalid,
    RunRefused,
    RunStopped,
    ServerError,
    TransportError,
)
from pipeline.input import build_prompt, count_rows, iter_rows
from pipeline.input.media import build_media_parts, media_context
from pipeline.policy import RetryPolicy
from pipeline.providers import RemoteBatch
from pipeline.records import InvalidRow, Outcome, Prompt, Row
from pipeline.store import BatchJobRecord, Journal

from ._client import BatchClient, BatchTransport
from ._collect import Collector, record_all
from ._draft import JobDraft, JobLimits, row_mapping

__all__ = ("BatchSession", "display_name")

READ_BATCH = 512
BATCH_DIR = "batch"
NAME_PREFIX = "pipeline"


def display_name(job_name: str, local_id: str, label: str | None) -> str:
    """The job's display name: the spec's name, the run's id for the job (how a lost create is found again),
    and the `[batch] label`."""
    name = f"{NAME_PREFIX} {job_name[:80]} {local_id}"
    return f"{name} {label}" if label else name


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _take(rows: Any, size: int) -> list[Row | InvalidRow]:
    return list(islice(rows, size))


class BatchSession:
    """The mutable state of one batch session; `run_batch` makes one and calls `drive()`."""

    def __init__(
        self,
        parts: Parts,
        options: RunOptions,
        journal: Journal,
        transport: BatchTransport,
        stats: RunStats,
        *,
        detach: bool = False,
    ) -> None:
        spec = parts.spec
        self.spec = spec
        self.parts = parts
        self.provider = parts.provider
        self.options = options
        self.journal = journal
        self.stats = stats
        self.detach = detach
        self.client = BatchClient(
            parts.provider,
            transport,
            RetryPolicy(max_attempts=max(3, spec.limits.max_attempts)),
            stats,
            timeout_s=spec.limits.attempt_timeout_s(),
        )
        self.media = media_context(spec, parts.provider, transport.send, journal)
        self.collector = Collector(
            journal, parts.provider, spec, parts.price, options.out_dir, stats
        )
        self.counters = SessionCounters(journal)
        self.dir = options.out_dir / BATCH_DIR
        self.stop: RunStopped | None = None
        self.fatal: BaseException | None = None
        self.left_pending = False  # rows of a cancelled or lost job have no outcome
        self.recovering = False
        self.work_scope: anyio.CancelScope | None = None
        self.live: dict[str, BatchJobRecord] = {}
        self.seen: dict[str, RemoteBatch] = {}
        self.reserved = 0.0
        self.spent = journal.spent_usd()
        self.builder_done = False
        self.unsent: list[BatchJobRecord] = []  # intents an earlier session never sent
        self.changed = anyio.Event()
        self.collected = anyio.Event()
        self.next_poll_at: float | None = None
        self.created = 0  # jobs created by this session
        self.collected_jobs = 0
        self.token = self._run_token()
        bounds = spec.batch
        self.poll_s, self.max_poll_s = (
            bounds.poll_interval_s,
            bounds.max_poll_interval_s,
        )
        if (
            options.base_url is not None
        ):  # --emulator: its Batch API runs on a compressed clock
            self.poll_s, self.max_poll_s = (
                min(self.poll_s, 0.5),
                min(self.max_poll_s, 2.0),
            )
        self.limits = JobLimits(
            max_bytes=bounds.max_file_bytes,
            max_tokens=bounds.max_job_tokens,
            max_rows=bounds.max_job_rows or parts.provider.batch_max_rows,
        )

    # -- the session -------------------------------------------------------------------------------------------

    async def drive(self) -> None:
        self.journal.save_meta("batch_provider", _provider_meta(self.parts))
        async with anyio.create_task_group() as outer:
            if self.options.handle_signals:
                outer.start_soon(self.watch_signals)
            outer.start_soon(self.count_total)
            outer.start_soon(self.checkpoint)
            with anyio.CancelScope() as scope:
                self.work_scope = scope
                await self.recover()
                async with anyio.create_task_group() as work:
                    work.start_soon(self.build)
                    work.start_soon(self.poll)
            outer.cancel_scope.cancel()
        self.show()

    def request_stop(self, reason: RunStopped) -> None:
        if self.stop is None:
            self.stop = reason
            self.stats.stopping = type(reason).__name__

    def wake(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                name = signal.Signals(signum).name
                self.request_stop(Interrupted(f"{name}: {self._leaving()}"))
                if self.work_scope is not None:
                    self.work_scope.cancel()

    def _leaving(self) -> str:
        """What Ctrl+C and --detach leave behind, and what to do about it."""
        out = self.options.out_dir
        if not self.live:
            return "stopped; no batch job is running; run the job again to resume"
        rows = sum(job.rows for job in self.live.values())
        return (
            f"{len(self.live)} batch job(s) holding {rows:,} rows keep running on the provider's side; run the "
            f"job again with --mode batch to collect them, or cancel them with `pipeline cancel {out}`"
        )

    async def count_total(self) -> None:
        total = await anyio.to_thread.run_sync(
            count_rows, self.spec.input.path, abandon_on_cancel=True
        )
        if self.options.limit is not None:
            total = min(total, self.options.limit)
        self.stats.total_rows = total
        self.journal.save_meta("input_rows", total)

    async def checkpoint(self) -> None:
        last_saved = time.monotonic()
        while True:
            await self.parts.credentials.refresh_if_needed()
            self.show()
            if time.monotonic() - last_saved > 5.0:
                self.counters.save(self.stats)
                last_saved = time.monotonic()
            await anyio.sleep(0.5)

    def show(self) -> None:
        """The live display's batch line: jobs by state, lines answered, the next poll."""
        jobs = list(self.live.values())
        if not jobs:
            self.stats.in_flight = 0
            self.stats.batch = f"batch: {self.collected_jobs} job(s) collected" + (
                "; building the next job" if not self.builder_done else ""
            )
            return
        states: dict[str, int] = {}
        answered = total = 0
        for job in jobs:
            remote = self.seen.get(job.local_id)
            state = (
                remote.state if remote is not None else (job.remote_state or "PENDING")
            )
            states[state] = states.get(state, 0) + 1
            answered += (
                remote.answered if remote is not None else job.succeeded + job.failed
            )
            total += job.rows
        described = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        line = f"batch: {len(jobs)} job(s) waiting ({described}), {answered:,}/{total:,} lines answered"
        if self.collected_jobs:
            line += f", {self.collected_jobs} collected"
        if self.next_poll_at is not None:
            line += (
                f" | next poll in {max(0.0, self.next_poll_at - time.monotonic()):.0f}s"
            )
        self.stats.batch = line
        self.stats.in_flight = total

    # -- recovery ----------------------------------------------------------------------------------------------

    def _run_token(self) -> str:
        token = self.journal.load_meta("batch_token")
        if isinstance(token, str) and token:
            return token
        token = secrets.token_hex(4)
        self.journal.save_meta("batch_token", token)
        return token

    async def recover(self) -> None:
        """Settle what earlier sessions left: re-attach submitted jobs, abandon jobs never created, and look
        for the intents (a create whose answer was never recorded) in the provider's list."""
        for job in self.journal.batch_jobs(("submitted",)):
            self._attach(job)
        for job in self.journal.batch_jobs(("building",)):
            await self._abandon(
                job, "never created (the session that built it stopped first)"
            )
        for job in self.journal.batch_jobs(("creating",)):
            found = await self.client.find(job.display_name)
            if found is not None:
                self._submitted(job, found)
            else:  # never reached the provider: the builder creates it before anything new
                self.journal.batch_update(
                    job.local_id, phase="building", updated_at=_now()
                )
                self.unsent.append(self._record(job.local_id))
        if self.live:
            # Collect what ended meanwhile before building: rows a cancelled job never answered are free again.
            self.recovering = True
            try:
                await self._poll_once()
            finally:
                self.recovering = False

    async def _abandon(self, job: BatchJobRecord, why: str) -> None:
        """Give up a job that was never created (phase `building`; the journal refuses any other)."""
        if not self.journal.batch_abandon(job.local_id, updated_at=_now(), error=why):
            return
        (self.dir / f"{job.local_id}.jsonl").unlink(missing_ok=True)
        if job.input_file:
            await self.client.delete_input(job.input_file)

    def _attach(self, job: BatchJobRecord) -> None:
        if job.local_id not in self.live:
            self.live[job.local_id] = job
            self.reserved += job.reserved_usd
        self.wake()

    # -- building and submitting -------------------------------------------------------------------------------

    async def build(self) -> None:
        try:
            for job in self.unsent:
                await self._create(job)
            await self._build()
        except RunStopped as stop:
            self.request_stop(stop)
        except CredentialsError as exc:
            self._fail(exc)
        finally:
            self.builder_done = True
            self.wake()

    def _fail(self, exc: BaseException) -> None:
        """A refused key: nothing more can be sent; what was journaled is written out."""
        self.fatal = exc
        self.request_stop(
            Interrupted(
                f"stopped: the provider refused the credentials; {self._leaving()}"
            )
        )
        if self.work_scope is not None:
            self.work_scope.cancel()

    async def _build(self) -> None:
        journal = self.journal
        retry_failed = self.options.retry_failed

        def read(
            rows: Any, size: int
        ) -> tuple[list[Row | InvalidRow], tuple[set[str], set[str]]]:
            """The next rows, and which of them not to build (a final outcome; a live job holds them):
            asked of the journal by chunk, so memory stays flat however long the input."""
            items = _take(rows, size)
            ids = [item.id for item in items]
            return items, journal.batch_skip(ids, retry_failed=retry_failed)

        rows = iter_rows(self.spec)
        limit = self.options.limit
        taken = 0
        draft: JobDraft | None = None
        try:
            while self.stop is None:
                size = READ_BATCH if limit is None else min(READ_BATCH, limit - taken)
                items, (final, held) = (
                    await anyio.to_thread.run_sync(read, rows, size)
                    if size
                    else ([], (set(), set()))
                )
                taken += len(items)
                for item in items:
                    if item.id in final:
                        self.stats.skipped += 1  # done in an earlier session
                        continue
                    if item.id in held:
                        continue  # waits in a job this session re-attached to: counted when collected
                    draft = await self._add(item, draft)
                if len(items) < READ_BATCH:
                    break
            if draft is not None and self.stop is None:
                await self._submit(draft)
                draft = None
        finally:
            if draft is not None and self.journal.batch_abandon(
                draft.local_id, updated_at=_now(), error="stopped before it was created"
            ):
                draft.discard()  # stopped while writing it: it was never created

    async def _add(
        self, item: Row | InvalidRow, draft: JobDraft | None
    ) -> JobDraft | None:
        """Build one row into the draft (starting, or submitting and replacing, it as the limits say)."""
        if isinstance(item, InvalidRow):
            await self._record_now(
                self._invalid(item.id, item.line, item.reason, item.fields)
            )
            return draft
        try:
            prompt = await self._prepare(item)
        except RowInvalid as exc:
            await self._record_now(
                self._invalid(item.id, item.line, exc.reason, item.fields)
            )
            return draft
        except AttemptError as exc:  # an upload of the row's media kept failing
            await self._record_now(
                self._failed(item, exc.code, f"preparing the row's media: {exc}")
            )
            return draft
        line = self.provider.build_batch_line(prompt)
        if len(line) > self.limits.max_bytes:
            await self._record_now(
                self._failed(
                    item,
                    "BATCH_LINE_TOO_LARGE",
                    f"the row's request is {len(line):,} bytes, more than [batch] max_file_bytes "
                    f"({self.limits.max_bytes:,}); send its media through the Files API "
                    "([media] upload_threshold_bytes) or raise max_file_bytes",
                ),
            )
            return draft
        tokens = prompt.estimated_input_tokens
        worst = self._worst_case(prompt)
        if draft is not None and not (
            draft.fits(len(line), tokens) and self._affordable(draft.worst_usd + worst)
        ):
            await self._submit(draft)
            draft = None
        if draft is None:
            await self._wait_for_budget(worst)
            draft = self._new_draft()
        kept = {name: item.fields.get(name) for name in self.spec.output.keep_fields}
        draft.add(
            line, row_mapping(item.id, item.line, kept, item.generation), tokens, worst
        )
        if len(draft.unsaved) >= 2_000:
            await anyio.to_thread.run_sync(
                self.journal.batch_add_rows, draft.local_id, draft.take_unsaved()
            )
        return draft

    async def _prepare(self, row: Row) -> Prompt:
        if not row.media:
            return build_prompt(row, self.spec)
        parts, tokens = await build_media_parts(row, self.media)
        return build_prompt(row, self.spec, parts, media_tokens=tokens)

    def _new_draft(self) -> JobDraft:
        seq = self.journal.batch_next_seq()
        local_id = f"{self.token}-{seq:04d}"
        name = display_name(self.spec.name, local_id, self.spec.batch.label)
        self.journal.batch_begin(
            BatchJobRecord(
                local_id=local_id,
                seq=seq,
                display_name=name,
                phase="building",
                created_at=_now(),
                updated_at=_now(),
            )
        )
        return JobDraft.open(
            local_id,
            name,
            self.dir / f"{local_id}.jsonl",
            self.limits,
            self.provider.batch_file_frame(name),
        )

    async def _submit(self, draft: JobDraft) -> None:
        """Finish the draft's file, upload it and create the job."""
        size = draft.close()
        await anyio.to_thread.run_sync(
            self.journal.batch_add_rows, draft.local_id, draft.take_unsaved()
        )
        self.journal.batch_update(
            draft.local_id,
            rows=draft.rows,
            input_bytes=size,
            est_tokens=draft.tokens,
            reserved_usd=draft.worst_usd,
            updated_at=_now(),
        )
        job = self._record(draft.local_id)
        try:
            name = await self.client.upload(draft.path, size, draft.display_name)
        except (AttemptError, RowInvalid) as exc:
            await self._abandon(job, f"upload failed: {exc}")
            raise RunRefused(
                f"uploading the batch input file failed ({getattr(exc, 'code', 'FAILED')}: {exc}); its rows stay "
                "pending: run the job again to retry"
            ) from exc
        self.journal.batch_update(draft.local_id, input_file=name, updated_at=_now())
        await self._create(self._record(draft.local_id))

    def _record(self, local_id: str) -> BatchJobRecord:
        for job in self.journal.batch_jobs():
            if job.local_id == local_id:
                return job
        raise KeyError(local_id)  # pragma: no cover (the session wrote it)

    async def _create(self, job: BatchJobRecord) -> None:
        """Create `job` from its uploaded input file, at most once (see the module docstring)."""
        attempt = 0
        while True:
            await self._wait_for_budget(job.reserved_usd)
            if self.stop is not None and isinstance(self.stop, Interrupted):
                return  # it stays `building` or `creating`: the next run settles it
            assert job.input_file is not None
            self.journal.batch_update(job.local_id, phase="creating", updated_at=_now())
            try:
                with anyio.CancelScope(shield=True):
                    remote = await self.client.create(job.input_file, job.display_name)
                    self._submitted(job, remote)
                return
            except RateLimited as exc:  # the quota refused it: nothing was created
                self.journal.batch_update(
                    job.local_id, phase="building", updated_at=_now()
                )
                self.stats.rate_limited += 1
                self.stats.retries_by_cause[f"batch-create:{exc.code}"] += 1
                await self._wait_for_room(exc.retry_after)
            except FileGone:  # the input file expired (48 h) before the job was created
                self.journal.batch_update(
                    job.local_id, phase="building", updated_at=_now()
                )
                job = await self._upload_again(job)
            except (TransportError, ServerError, ReplyInvalid) as exc:
                # No usable answer: the job may exist. Look before sending create again.
                with anyio.CancelScope(shield=True):
                    found = await self.client.find(job.display_name)
                    if found is not None:
                        self._submitted(job, found)
                        return
                self.journal.batch_update(
                    job.local_id, phase="building", updated_at=_now()
                )
                attempt += 1
                decision = self.client.policy.decide(exc, attempt)
                if not decision.retry:
                    raise RunRefused(
                        f"creating a batch job failed ({exc.code}: {exc}); its rows stay pending: run the job "
                        "again to retry"
                    ) from exc
                self.stats.retries_by_cause[f"batch-create:{exc.code}"] += 1
                await anyio.sleep(decision.delay_s)
            except (
                RequestRejected
            ) as exc:  # refused outright (4xx): nothing was created
                self.journal.batch_update(
                    job.local_id, phase="building", updated_at=_now()
                )
                await self._abandon(job, f"refused: {exc.code}: {exc}")
                raise RunRefused(
                    f"the provider refused to create a batch job ({exc.code}: {exc}); fix the cause, then run "
                    "the job again (its rows stay pending)"
                ) from exc

    async def _upload_again(self, job: BatchJobRecord) -> BatchJobRecord:
        path = self.dir / f"{job.local_id}.jsonl"
        if not path.is_file():
            await self._abandon(
                job, "its input file expired and the local copy is gone"
            )
            raise RunRefused(
                "a batch job's input file expired before the job was created; run the job again to rebuild it"
            )
        name = await self.client.upload(path, path.stat().st_size, job.display_name)
        self.journal.batch_update(job.local_id, input_file=name, updated_at=_now())
        return self._record(job.local_id)

    def _submitted(self, job: BatchJobRecord, remote: RemoteBatch) -> None:
        """The create call answered (or the job was found): its name goes in the journal at once."""
        self.journal.batch_update(
            job.local_id,
            phase="submitted",
            remote_name=remote.name,
            remote_state=remote.state,
            submitted_at=_now(),
            total=remote.total,
            succeeded=remote.succeeded,
            failed=remote.failed,
            updated_at=_now(),
        )
        self.created += 1
        (self.dir / f"{job.local_id}.jsonl").unlink(missing_ok=True)
        self._attach(self._record(job.local_id))

    # -- money -------------------------------------------------------------------------------------------------

    def _worst_case(self, prompt: Prompt) -> float:
        if self.spec.limits.budget_usd is None:
            return 0.0
        return worst_case_usd(
            self.parts.price,
            input_tokens=prompt.estimated_input_tokens,
            max_output_tokens=prompt.generation.max_output_tokens
            or self.parts.max_output_tokens,
            max_image_tokens=max_image_tokens(prompt.model)
            if self.parts.image_output
            else 0,
            batch=True,
        )

    def _affordable(self, usd: float) -> bool:
        """Whether a job whose worst case is `usd` fits under the budget beside the live jobs' reservations."""
        limit = self.spec.limits.budget_usd
        return limit is None or self.spent + self.reserved + usd <= limit + 1e-12

    async def _wait_for_budget(self, usd: float) -> None:
        """Wait until a job of worst case `usd` fits (live jobs end and free their reservations); raises
        `BudgetExhausted` when it cannot fit even with none running."""
        while not self._affordable(usd):
            if not self.live:
                limit = self.spec.limits.budget_usd or 0.0
                raise BudgetExhausted(
                    f"budget_usd = {limit:.4f} would be passed by the next batch job (worst case "
                    f"${usd:.4f} at the batch price, ${self.spent:.4f} spent); raise [limits] budget_usd and run "
                    "the job again to resume"
                )
            await self._wait_for_collection()

    async def _wait_for_collection(self) -> None:
        event = self.collected
        await event.wait()

    async def _wait_for_room(self, hint: float | None) -> None:
        """After a 429 at create: wait for one of our jobs to end, or a while when none of ours runs."""
        wait = max(hint or 0.0, self.poll_s)
        if self.live:
            with anyio.move_on_after(max(wait, self.max_poll_s)):
                await self._wait_for_collection()
        else:
            await anyio.sleep(wait)

    # -- waiting and collecting --------------------------------------------------------------------------------

    async def poll(self) -> None:
        try:
            await self._poll()
        except CredentialsError as exc:
            self._fail(exc)

    async def _poll(self) -> None:
        first = self.poll_s
        interval = first
        while True:
            if not self.live:
                if self.builder_done:
                    return
                event = self.changed
                await event.wait()
                continue
            changed = await self._poll_once()
            if self.builder_done and not self.live:
                return
            if self.builder_done and self.detach:
                if self.live and self.stop is None:
                    self.request_stop(Detached(f"detached: {self._leaving()}"))
                return
            interval = first if changed else min(interval * 1.5, self.max_poll_s)
            self.next_poll_at = time.monotonic() + interval
            event = self.changed
            with anyio.move_on_after(interval):
                # A new job wakes the poller at once, so its state shows without waiting a whole interval.
                await event.wait()
            self.next_poll_at = None

    async def _poll_once(self) -> bool:
        changed = False
        for local_id, job in list(self.live.items()):
            assert job.remote_name is not None
            try:
                remote = await self.client.get(job.remote_name)
            except RequestRejected as exc:
                if exc.http_status != 404:
                    raise
                remote = RemoteBatch(
                    name=job.remote_name,
                    state="LOST",
                    error=f"the provider no longer knows this job ({exc})",
                )
            except AttemptError:
                continue  # a poll that failed for a passing reason: ask again next time
            before = self.seen.get(local_id)
            self.seen[local_id] = remote
            if before is None or (before.state, before.answered) != (
                remote.state,
                remote.answered,
            ):
                changed = True
                self.journal.batch_update(
                    local_id,
                    remote_state=remote.state,
                    total=remote.total,
                    succeeded=remote.succeeded,
                    failed=remote.failed,
                    updated_at=_now(),
                )
            if remote.done or remote.state == "LOST":
                try:
                    await self._collect(job, remote)
                except RequestRejected as exc:  # e.g. results past their retention: 404
                    self._unreachable(job, remote, exc)
                except AttemptError:
                    continue  # a download that failed for a passing reason: again next poll
                changed = True
        self.show()
        return changed

    def _unreachable(
        self, job: BatchJobRecord, remote: RemoteBatch, exc: RequestRejected
    ) -> None:
        """The job ended but its results cannot be downloaded: stop waiting on it, keep it `submitted` (its
        rows are never sent again by accident; a later run tries the download again) and say so."""
        del self.live[job.local_id]
        self.reserved = max(0.0, self.reserved - job.reserved_usd)
        self.request_stop(
            RunRefused(
                f"batch job {remote.name} ended {remote.state} but its results cannot be downloaded "
                f"({exc.code}: {exc}); its rows stay pending and are not sent again; run the job again to retry "
                "the download"
            )
        )

    async def _collect(self, job: BatchJobRecord, remote: RemoteBatch) -> None:
        """Record the job's results (and its leftover rows), then mark it collected."""
        assert job.submitted_at is not None
        started = datetime.fromisoformat(job.submitted_at)
        unreadable = 0
        for index, file_name in enumerate(remote.result_files):
            path = self.dir / f"{job.local_id}.results-{index}.jsonl"
            self.dir.mkdir(parents=True, exist_ok=True)
            try:
                await self.client.download(file_name, path)
                done = await self.collector.collect_file(path, job, started)
            finally:
                path.unlink(missing_ok=True)
            unreadable += done.unreadable
            self.spent += done.spent_usd
        why = remote.error or ""
        if remote.state == "SUCCEEDED":
            extra = (
                f" ({unreadable} result lines could not be read)" if unreadable else ""
            )
            await self.collector.fail_leftover(
                job,
                started,
                "BATCH_NO_RESULT",
                f"batch job {remote.name} succeeded but its results have no line for this row{extra}; run "
                "again with --retry-failed to send it again",
            )
        elif remote.state in ("FAILED", "EXPIRED"):
            await self.collector.fail_leftover(
                job,
                started,
                f"BATCH_{remote.state}",
                f"batch job {remote.name} ended {remote.state} before answering this row"
                + (f" ({why})" if why else "")
                + "; run again with --retry-failed to send it in a new job",
            )
        elif not self.recovering and await self.collector.count_leftover(job, started):
            # CANCELLED (pipeline cancel) or LOST while this run waited on it: the rows it did not answer stay
            # pending, and the run stops building: a cancel means "no more of this for now". (Found so on
            # resume, those rows are simply built into a new job.)
            self.left_pending = True
            self.request_stop(
                Interrupted(
                    f"batch job {remote.name} ended {remote.state}"
                    + (f" ({why})" if why else "")
                    + "; the rows it did not answer stay pending: run the job again to send them"
                )
            )
        await self.journal.flush()
        self.journal.batch_update(
            job.local_id,
            phase="collected",
            remote_state=remote.state,
            total=remote.total,
            succeeded=remote.succeeded,
            failed=remote.failed,
            error=remote.error,
            ended_at=_now(),
            updated_at=_now(),
        )
        del self.live[job.local_id]
        (self.dir / f"{job.local_id}.jsonl").unlink(
            missing_ok=True
        )  # left by a kill after create
        self.reserved = max(0.0, self.reserved - job.reserved_usd)
        self.collected_jobs += 1
        if job.input_file:
            await self.client.delete_input(job.input_file)
        self.collected.set()
        self.collected = anyio.Event()
        self.wake()

    # -- outcomes that need no job -----------------------------------------------------------------------------

    async def _record_now(self, outcome: Outcome) -> None:
        await record_all(self.journal, [outcome])
        self.stats.row_done(outcome)

    def _invalid(self, row_id: str, line: int, reason: str, fields: Any) -> Outcome:
        now = datetime.now(UTC)
        return Outcome(
            id=row_id,
            status="invalid",
            error_code="INVALID_ROW",
            error_message=f"line {line}: {reason}",
            started_at=now,
            finished_at=now,
            line=line,
            kept={name: fields.get(name) for name in self.spec.output.keep_fields},
        )

    def _failed(self, row: Row, code: str, message: str) -> Outcome:
        now = datetime.now(UTC)
        return Outcome(
            id=row.id,
            status="failed",
            cost_usd=None if self.parts.price is None else 0.0,
            error_code=code,
            error_message=message,
            started_at=now,
            finished_at=now,
            line=row.line,
            kept={name: row.fields.get(name) for name in self.spec.output.keep_fields},
        )

    def summary(self) -> dict[str, object]:
        """summary.json's `batch` section: every job of the run directory."""
        jobs = []
        for job in self.journal.batch_jobs():
            if job.phase == "abandoned":
                continue
            jobs.append(
                {
                    "id": job.local_id,
                    "name": job.remote_name,
                    "phase": job.phase,
                    "state": job.remote_state,
                    "rows": job.rows,
                    "succeeded": job.succeeded,
                    "failed": job.failed,
                    "input_bytes": job.input_bytes,
                    "submitted_at": job.submitted_at,
                    "ended_at": job.ended_at,
                    "error": job.error,
                }
            )
        return {"jobs_created_this_session": self.created, "jobs": jobs}


def _provider_meta(parts: Parts) -> dict[str, object]:
    """What `pipeline cancel DIR` needs to reach the jobs without the spec: no secret, only names."""
    provider = parts.spec.provider
    return {
        "kind": provider.kind,
        "model": provider.model,
        "base_url": provider.base_url,
        "api_key_env": provider.api_key_env,
        "image_endpoint": provider.image_endpoint,
    }
