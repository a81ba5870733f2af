"""The durable record of every outcome: what makes a resume safe and keeps a reply from being paid for twice.

SQLite in WAL mode at DIR/journal.sqlite. `record()` returns only once its outcome is committed and fsync'd;
`submit()`, which the engine uses, returns at once while few outcomes wait for their commit. One writer task
commits everything queued meanwhile in a single transaction (group commit): 64 workers finishing together cost
about one fsync, not 64. `synchronous = FULL` rather than NORMAL + checkpoints: in WAL
mode NORMAL skips the fsync at commit, so a power cut could lose replies that were already acknowledged (and
paid for); FULL costs one WAL fsync per *batch*, which group commit makes cheap.

Usage::

    journal = Journal.open(run_dir, fingerprint=spec_hash, spec_description=described)
    done = journal.final_ids(retry_failed=retry)  # rows not to send again
    async with journal:  # starts the writer task; on exit flushes, commits and closes
        await journal.record(outcome)  # returns once durable
        await journal.submit(outcome, max_unsaved=64)  # returns at once while few wait for their commit
        journal.note_attempt(attempt)  # one request as it ended: queued for the next commit, never awaited

A `kill -9` at any moment leaves a database that opens with every acknowledged outcome in it: SQLite's WAL
recovery drops a half-written transaction, and nothing is acknowledged before its COMMIT returned.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.abc import TaskGroup

from pipeline.errors import OutputError
from pipeline.records import AttemptRecord, JournalTotals, Outcome, UploadedFile

from . import _codec as outcome_codec
from ._codec import to_utc
from ._lock import RunLock, acquire_run_lock
from ._memory import MemoryJournal
from ._protocols import RunJournal
from ._reader import (
    ATTEMPT_COLUMNS,
    JOURNAL_NAME,
    JournalReader,
    connect,
    encode_attempt,
    sql_errors,
)
from ._spec_check import check_spec

__all__ = [
    "JOURNAL_NAME",
    "Journal",
    "JournalReader",
    "JournalTotals",
    "MemoryJournal",
    "RunJournal",
]

# v2 (issue 18) adds the `attempts` table; a v1 journal gains it, empty, when a run opens it.
SCHEMA_VERSION = 2
_OUTCOME_COLUMNS = ", ".join(
    f"{name} {outcome_codec.COLUMN_TYPES.get(name, '')}".strip()
    for name in outcome_codec.COLUMNS
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS outcomes ({_OUTCOME_COLUMNS});
CREATE INDEX IF NOT EXISTS outcomes_by_line ON outcomes (line, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spend (one INTEGER PRIMARY KEY CHECK (one = 1), usd REAL NOT NULL);
INSERT OR IGNORE INTO spend VALUES (1, 0.0);
DROP TRIGGER IF EXISTS outcomes_spend;
CREATE TABLE IF NOT EXISTS uploads (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, uri TEXT NOT NULL, mime_type TEXT NOT NULL, state TEXT NOT NULL,
    size_bytes INTEGER NOT NULL, sha256 TEXT, expires_at TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    seq INTEGER PRIMARY KEY, row_id TEXT NOT NULL, attempt INTEGER NOT NULL, started_at REAL NOT NULL,
    ended_at REAL NOT NULL, result TEXT NOT NULL, http_status INTEGER, error_code TEXT, message TEXT,
    service_tier TEXT
);
"""
_COST = outcome_codec.COLUMNS.index("cost_usd")
# Rows per INSERT statement: SQLite allows 32,766 bound values (23 a row); one statement for a whole group
# commit means one sqlite3_step, so the writer thread takes the GIL back once per batch, not once per row.
_ROWS_PER_STATEMENT = 1000


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    marks = f"({', '.join('?' * len(outcome_codec.COLUMNS))})"
    columns = ", ".join(outcome_codec.COLUMNS)
    return f"INSERT OR REPLACE INTO outcomes ({columns}) VALUES {', '.join([marks] * rows)}"


@functools.lru_cache(maxsize=64)
def _insert_attempts_sql(rows: int) -> str:
    marks = f"({', '.join('?' * len(ATTEMPT_COLUMNS))})"
    columns = ", ".join(ATTEMPT_COLUMNS)
    return f"INSERT INTO attempts ({columns}) VALUES {', '.join([marks] * rows)}"


@dataclass(slots=True, eq=False)
class _Batch:
    """The outcomes of `record()` calls that share one group commit, and how it went (set by the writer)."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    attempts: list[tuple[Any, ...]] = field(
        default_factory=list
    )  # note_attempt(): nobody waits for these
    done: anyio.Event = field(default_factory=anyio.Event)
    error: str | None = None
    settled: bool = False  # committed, or failed with `error`
    waiters: int = 0  # callers that wait for the commit and so will see `error`

    @property
    def pending(self) -> bool:
        return bool(self.rows or self.attempts)


class Journal(JournalReader):
    """The SQLite journal of one run directory; see the module docstring. Create it with `Journal.open()`."""

    def __init__(
        self,
        path: Path,
        reader: sqlite3.Connection,
        writer: sqlite3.Connection,
        lock: RunLock,
    ) -> None:
        super().__init__(path, reader)
        self._writer = writer  # used by one thread at a time: the writer task's worker thread, or open/close
        self._run_lock = lock
        # record() adds to the collecting batch; the writer swaps it for a new one when it commits
        self._collecting = _Batch()
        self._committing: _Batch | None = None
        self._wakeup = anyio.Event()
        self._task_group: TaskGroup | None = None
        self._closing = False
        self._closed = False
        # the error of a failed commit that no caller waited for: raised by the next submit(), or at exit
        self._unreported: str | None = None

    @classmethod
    def open(
        cls,
        run_dir: Path,
        *,
        fingerprint: str,
        spec_description: Mapping[str, object],
        allow_spec_change: bool = False,
        durable: bool = True,
    ) -> RunJournal:
        """Lock `run_dir` (created if needed) and open its journal, refusing a run of a different spec.

        `durable=False` returns a `MemoryJournal` (journaling off: benchmarks only). Raises `OutputError` when
        DIR cannot be created or written or another run holds it, `SpecError` when DIR holds another spec's run.
        """
        run_dir = Path(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"{run_dir}: cannot create the output directory: {exc.strerror or exc}"
            ) from exc
        lock = acquire_run_lock(run_dir)
        if not durable:
            return MemoryJournal(run_dir, release=lock.release)
        path = run_dir / JOURNAL_NAME
        opened: list[sqlite3.Connection] = []
        try:
            with sql_errors(path, "open the journal"):
                writer = connect(path)
                opened.append(writer)
                _prepare(writer, path)
                check_spec(
                    writer, run_dir, fingerprint, spec_description, allow_spec_change
                )
                reader = connect(path)
                opened.append(reader)
                # the reader connection also writes meta values and uploads
                reader.execute("PRAGMA synchronous = FULL")
        except BaseException:
            for conn in opened:
                conn.close()
            lock.release()
            raise
        return cls(path, reader, writer, lock)

    async def __aenter__(self) -> Self:
        if self._closed:
            raise RuntimeError(
                "this journal is closed; open it again with Journal.open()"
            )
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._write_loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        self._wakeup.set()
        try:
            if self._task_group is not None:
                # The writer drains the queue and returns; if the run is being cancelled it stops at once
                # instead, and whatever it left is committed below, synchronously: nothing queued is lost.
                await self._task_group.__aexit__(None, None, None)
        finally:
            self._task_group = None
            # A batch the cancelled writer took but never handed to its thread, and whatever was queued after.
            for batch in (self._committing, self._collecting):
                if batch is not None and batch.pending and not batch.settled:
                    self._commit(batch)
                if batch is not None:
                    self._settle(batch)
            self._committing = None
            self.close()
        if exc_type is None:
            self._raise_unreported()  # submitted outcomes were lost: the run must not look complete

    async def record(self, outcome: Outcome) -> None:
        """Queue `outcome` and return once it is committed durably; the latest outcome of an id wins.

        Raises `OutputError` when the commit fails (disk full): that batch is rolled back, the journal stays
        consistent, and later calls may succeed again once there is room.
        """
        self._check_entered()
        batch = self._collecting
        batch.rows.append(outcome_codec.encode(outcome))
        self._wakeup.set()
        await self._wait_for(batch)

    async def submit(self, outcome: Outcome, *, max_unsaved: int) -> None:
        """Queue `outcome` for the next group commit; return at once unless more than `max_unsaved` outcomes
        are waiting for theirs, then wait like `record()`.

        Why: a worker that waits for the fsync holds its request slot idle meanwhile; at zero latency that cost
        the engine a sixth of its throughput. The price is bounded: a `kill -9` loses at most `max_unsaved`
        replies that arrived but were not committed yet (besides the requests in flight, which `record()` loses
        too). Raises `OutputError` when an earlier submitted outcome's commit failed (disk full), so the run
        stops instead of going on without a record of what it paid for.
        """
        self._check_entered()
        self._raise_unreported()
        batch = self._collecting
        batch.rows.append(outcome_codec.encode(outcome))
        self._wakeup.set()
        unsaved = len(batch.rows)
        if self._committing is not None:
            unsaved += len(self._committing.rows)
        if unsaved > max_unsaved:
            await self._wait_for(batch)

    def note_attempt(self, attempt: AttemptRecord) -> None:
        """Queue one ended request for the next group commit and return at once (no await, no fsync wait).

        Attempts ride along with the outcomes' commits; a kill -9 loses those not committed yet, which is fine:
        they describe the run, they do not decide what is sent again. A commit failure is reported like a
        submitted outcome's, by the next `submit()`.
        """
        self._check_entered()
        self._collecting.attempts.append(encode_attempt(attempt))
        self._wakeup.set()

    async def flush(self) -> None:
        """Return once every outcome submitted so far is committed; raises `OutputError` if one could not be."""
        self._check_entered()
        pending = self._collecting if self._collecting.pending else self._committing
        if pending is not None:
            self._wakeup.set()
            await self._wait_for(pending)
        self._raise_unreported()

    def _check_entered(self) -> None:
        if self._task_group is None or self._closing:
            raise RuntimeError(
                "the journal takes outcomes only while entered: `async with journal: ...`"
            )

    async def _wait_for(self, batch: _Batch) -> None:
        batch.waiters += 1
        await batch.done.wait()
        if batch.error is not None:
            raise OutputError(batch.error)

    def _settle(self, batch: _Batch) -> None:
        """Wake the batch's waiters; an error that none of them will see is kept for the next submit()."""
        if batch.error is not None and not batch.waiters:
            self._unreported = batch.error
        batch.done.set()

    def _raise_unreported(self) -> None:
        error, self._unreported = self._unreported, None
        if error is not None:
            raise OutputError(error)

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup = anyio.Event()
            while self._collecting.pending:
                self._committing, self._collecting = self._collecting, _Batch()
                batch = self._committing
                await anyio.to_thread.run_sync(self._commit, batch)
                self._settle(batch)
                self._committing = None
            if self._closing:
                return

    def _commit(self, batch: _Batch) -> None:
        """One transaction for the whole batch (runs in a worker thread); on failure the batch gets the error.

        The batch's spend is added in the same transaction, so it can never disagree with the outcomes. (Once a
        trigger per row did it: a third of the journal's CPU per row.)
        """
        conn = self._writer
        rows = batch.rows
        width = _ROWS_PER_STATEMENT
        spent = sum(cost for row in rows if (cost := row[_COST]) is not None)
        try:
            with sql_errors(self.path, "write the journal"):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    for start in range(0, len(rows), width):
                        chunk = rows[start : start + width]
                        conn.execute(
                            _insert_sql(len(chunk)), [v for row in chunk for v in row]
                        )
                    attempts = batch.attempts
                    for start in range(0, len(attempts), width):
                        chunk = attempts[start : start + width]
                        conn.execute(
                            _insert_attempts_sql(len(chunk)),
                            [v for row in chunk for v in row],
                        )
                    if spent:
                        conn.execute("UPDATE spend SET usd = usd + ?", (spent,))
                    conn.execute("COMMIT")
                except BaseException:
                    # SQLite may already have rolled back (SQLITE_FULL does); never mask the first error
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
        except OutputError as exc:
            batch.error = str(exc)
        batch.settled = True

    def close(self) -> None:
        """Close both connections and release DIR (idempotent). `async with` does this on exit."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
            super().close()
        finally:
            self._run_lock.release()

    def save_meta(self, key: str, value: object) -> None:
        """Store a JSON value (e.g. counters, "input_rows") in its own short transaction; thread-safe."""
        text = json.dumps(value, ensure_ascii=False)
        with self._lock, sql_errors(self.path, "write the journal"):
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, text)
            )

    def put_upload(self, sha256: str, upload: UploadedFile) -> None:
        expires = (
            None if upload.expires_at is None else to_utc(upload.expires_at).isoformat()
        )
        row = (
            sha256,
            upload.name,
            upload.uri,
            upload.mime_type,
            upload.state,
            upload.size_bytes,
            upload.sha256,
        )
        with self._lock, sql_errors(self.path, "write the journal"):
            self._conn.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, expires),
            )

    def forget_upload(self, sha256: str) -> None:
        with self._lock, sql_errors(self.path, "write the journal"):
            self._conn.execute("DELETE FROM uploads WHERE key = ?", (sha256,))


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise OutputError(
            f"{path} was written by a newer pipeline (journal v{version}); upgrade pipeline"
        )
    try:
        conn.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
