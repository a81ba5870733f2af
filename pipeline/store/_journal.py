"""The durable record of every outcome: what makes a resume safe and keeps a reply from being paid for twice.

SQLite in WAL mode at DIR/journal.sqlite. `record()` returns once its outcome is committed to the WAL. One
writer task commits everything queued meanwhile in a single transaction (group commit): 64 workers finishing
together cost one commit, not 64.

Two kinds of crash, two guarantees:
- **The process dies** (`kill -9`, OOM, a bug): a commit is in the WAL file as soon as COMMIT returns, in the
  operating system's cache, and survives the process without an fsync. So the engine frees a worker's request
  slot only after `record()` returned: what a kill can make us pay again is only the requests in flight.
- **The machine loses power**: the writer fsyncs the WAL at most `FSYNC_INTERVAL_S` after a commit (group
  fsync, `synchronous = NORMAL` at commit). A power cut can lose the outcomes of that last interval: those
  replies are asked for again on resume. FULL (an fsync per commit) cost a sixth of the throughput at zero
  latency, because every worker waited for the disk.

Usage::

    journal = Journal.open(run_dir, fingerprint=spec_hash, spec_description=described)
    done = journal.final_ids(retry_failed=retry)  # rows not to send again
    async with journal:  # starts the writer task; on exit commits, fsyncs and closes
        await journal.record(outcome)  # returns once committed (survives kill -9)
        journal.note_attempt(attempt)  # one request as it ended: queued for the next commit, never awaited

A `kill -9` at any moment leaves a database that opens with every acknowledged outcome in it: SQLite's WAL
recovery drops a half-written transaction, and nothing is acknowledged before its COMMIT returned.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
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
from ._batch import BATCH_SCHEMA, BatchWrites
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

# v2 (issue 18) adds the `attempts` table; v3 the batch tables (`_batch.py`). An older journal gains them,
# empty, when a run opens it; an older pipeline refuses a newer journal: it would not know which rows wait in
# batch jobs and could send them again.
SCHEMA_VERSION = 3
FSYNC_INTERVAL_S = (
    0.2  # how much a power cut can lose; a kill -9 loses no committed outcome
)
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
{BATCH_SCHEMA}
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


class Journal(JournalReader, BatchWrites):
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
        """Queue `outcome` and return once it is committed (in the WAL); the latest outcome of an id wins.

        Raises `OutputError` when the commit fails (disk full): that batch is rolled back, the journal stays
        consistent, and later calls may succeed again once there is room.
        """
        self._check_entered()
        batch = self._collecting
        batch.rows.append(outcome_codec.encode(outcome))
        self._wakeup.set()
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
        unsynced_since: float | None = (
            None  # when the oldest commit that no fsync covers yet was made
        )
        while True:
            if unsynced_since is None:
                await self._wakeup.wait()
            else:
                # Group fsync: at most FSYNC_INTERVAL_S after that commit, however busy the writer is.
                left = FSYNC_INTERVAL_S - (time.monotonic() - unsynced_since)
                if left > 0:
                    with anyio.move_on_after(left):
                        await self._wakeup.wait()
                if time.monotonic() - unsynced_since >= FSYNC_INTERVAL_S:
                    await anyio.to_thread.run_sync(self._sync_wal)
                    unsynced_since = None
            self._wakeup = anyio.Event()
            while self._collecting.pending:
                self._committing, self._collecting = self._collecting, _Batch()
                batch = self._committing
                await anyio.to_thread.run_sync(self._commit, batch)
                self._settle(batch)
                self._committing = None
                if unsynced_since is None:
                    unsynced_since = time.monotonic()
            if self._closing:
                return  # close() fsyncs what is left

    def _sync_wal(self) -> None:
        """fsync the WAL file: the commits so far now survive a power cut too (Linux syncs the file, not the fd)."""
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            fd = os.open(wal, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            self._unreported = self._unreported or (
                f"{wal}: cannot sync the journal to disk: {exc.strerror or exc}"
            )
        finally:
            os.close(fd)

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
            with contextlib.suppress(OSError):
                self._sync_wal()
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


def _added_columns(conn: sqlite3.Connection) -> str:
    """ALTER TABLE statements for the columns an older journal lacks (pipeline.columns is append-only)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(outcomes)")}
    if not have:
        return ""  # a new journal: CREATE TABLE makes every column
    return "".join(
        f"ALTER TABLE outcomes ADD COLUMN {name} {outcome_codec.COLUMN_TYPES[name]};"
        for name in outcome_codec.COLUMNS
        if name not in have
    )


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    # No fsync at commit: a commit survives the process; the writer fsyncs the WAL in groups (module docstring).
    conn.execute("PRAGMA synchronous = NORMAL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise OutputError(
            f"{path} was written by a newer pipeline (journal v{version}); upgrade pipeline"
        )
    try:
        conn.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA}; {_added_columns(conn)} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
