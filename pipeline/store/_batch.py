"""Batch mode's part of the journal: each batch job, and which rows it holds.

Two tables, added by journal schema v2 (a v1 journal gains them when it is next opened by a run):

- `batch_jobs`: one row per job this run directory ever started, keyed by its local id (the run's own name for
  it, also written into the job's display name). `phase` is where the job is in the never-twice protocol:
  `building` (its input file is being written; nothing was sent to create it), `creating` (the intent: written,
  and synced, BEFORE the create call is sent; `remote_name` is still NULL), `submitted` (the create call
  answered and `remote_name` is its name), `collected` (its results are outcomes in the journal), `abandoned`
  (never created: its rows are free again).
- `batch_rows`: row id -> the job that holds it, with what the results need to become outcomes without the
  input file: the input line, the kept fields and the row's own generation overrides (JSON, NULL when none).
  A row sent again (`--retry-failed` after an expired job) moves to its new job.

Rows whose job is `creating` or `submitted` are the run's "live" rows: a run never builds them into another job,
and an online run refuses a directory that has any. A job's outcomes carry its `submitted_at` as their
`started_at`, which is how a collection that a crash cut short knows which rows it already journaled.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.errors import OutputError

from ._codec import to_utc

__all__ = ("BATCH_SCHEMA", "LIVE_PHASES", "BatchJobRecord", "BatchReads", "BatchWrites")

LIVE_PHASES = ("creating", "submitted")

BATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_jobs (
    local_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, display_name TEXT NOT NULL, phase TEXT NOT NULL,
    remote_name TEXT, remote_state TEXT, input_file TEXT, input_bytes INTEGER NOT NULL DEFAULT 0,
    rows INTEGER NOT NULL DEFAULT 0, est_tokens INTEGER NOT NULL DEFAULT 0, reserved_usd REAL NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0, succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    error TEXT, created_at TEXT NOT NULL, submitted_at TEXT, updated_at TEXT NOT NULL, ended_at TEXT
);
CREATE TABLE IF NOT EXISTS batch_rows (
    id TEXT PRIMARY KEY, job TEXT NOT NULL, line INTEGER, kept TEXT, generation TEXT
);
CREATE INDEX IF NOT EXISTS batch_rows_by_job ON batch_rows (job, id);
"""
# Rows per IN (...) query: well under SQLite's limit of bound values.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class BatchJobRecord:
    """One row of `batch_jobs` (see the module docstring). Counts are as of the last poll."""

    local_id: str
    seq: int
    display_name: str
    phase: str
    remote_name: str | None = None
    remote_state: str | None = None
    input_file: str | None = None
    input_bytes: int = 0
    rows: int = 0
    est_tokens: int = 0
    reserved_usd: float = 0.0
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    error: str | None = None
    created_at: str = ""
    submitted_at: str | None = None
    updated_at: str = ""
    ended_at: str | None = None

    @property
    def live(self) -> bool:
        return self.phase in LIVE_PHASES


_COLUMNS = tuple(f.name for f in fields(BatchJobRecord))
_UPDATABLE = frozenset(_COLUMNS) - {"local_id", "seq", "created_at"}


@contextlib.contextmanager
def sql_errors(path: Path, doing: str) -> Iterator[None]:
    """SQLite and OS failures as `OutputError`, as the rest of the journal reports them (`_reader.sql_errors`,
    which this module cannot import: `_reader` imports this one)."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise OutputError(f"{path}: cannot {doing}: {reason}") from exc


def iso(moment: datetime) -> str:
    """A moment as the journal stores timestamps (UTC ISO 8601), so stored texts compare exactly."""
    return to_utc(moment).isoformat()


class BatchReads:
    """Queries on the batch tables; mixed into `JournalReader` (needs `path`, `_conn` and `_lock`)."""

    path: Path
    _conn: sqlite3.Connection
    _lock: threading.Lock

    def batch_jobs(self, phases: Iterable[str] | None = None) -> list[BatchJobRecord]:
        """The jobs in `phases` (all when None), oldest first; none in a journal older than v2."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM batch_jobs"
        wanted = tuple(phases) if phases is not None else ()
        if phases is not None:
            query += f" WHERE phase IN ({', '.join('?' * len(wanted))})"
        with self._lock, sql_errors(self.path, "read the journal"):
            try:
                rows = self._conn.execute(query + " ORDER BY seq", wanted).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []  # a v1 journal opened read-only: it has no batch jobs
                raise
        return [BatchJobRecord(*row) for row in rows]

    def batch_next_seq(self) -> int:
        with self._lock, sql_errors(self.path, "read the journal"):
            row = self._conn.execute("SELECT MAX(seq) FROM batch_jobs").fetchone()
        return int(row[0] or 0) + 1

    def batch_live_ids(self) -> set[str]:
        """Ids of rows held by a job that is being created or has been submitted and not collected."""
        marks = ", ".join("?" * len(LIVE_PHASES))
        query = (
            "SELECT r.id FROM batch_rows r JOIN batch_jobs j ON j.local_id = r.job"
            f" WHERE j.phase IN ({marks})"
        )
        with self._lock, sql_errors(self.path, "read the journal"):
            try:
                return {row_id for (row_id,) in self._conn.execute(query, LIVE_PHASES)}
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return set()
                raise

    def batch_skip(
        self, ids: Sequence[str], *, retry_failed: bool = False
    ) -> tuple[set[str], set[str]]:
        """Which of `ids` must not be built into a job: (those with a final outcome, as `final_ids` says, for
        `retry_failed` too; those a live job holds). By chunk, so memory does not grow with the input."""
        statuses = (
            ("ok", "blocked")
            if retry_failed
            else ("ok", "blocked", "failed", "truncated")
        )
        skip: set[str] = set()
        held: set[str] = set()
        with self._lock, sql_errors(self.path, "read the journal"):
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                final = (
                    f"SELECT id FROM outcomes WHERE id IN ({marks}) AND status IN"
                    f" ({', '.join('?' * len(statuses))})"
                )
                skip.update(
                    row_id
                    for (row_id,) in self._conn.execute(final, (*chunk, *statuses))
                )
                live = (
                    "SELECT r.id FROM batch_rows r JOIN batch_jobs j ON j.local_id = r.job"
                    f" WHERE r.id IN ({marks}) AND j.phase IN ({', '.join('?' * len(LIVE_PHASES))})"
                )
                held.update(
                    row_id
                    for (row_id,) in self._conn.execute(live, (*chunk, *LIVE_PHASES))
                )
        return skip, held

    def batch_is_live(self, row_id: str) -> bool:
        """Whether a live job holds `row_id` (one indexed look-up)."""
        query = (
            "SELECT 1 FROM batch_rows r JOIN batch_jobs j ON j.local_id = r.job"
            f" WHERE r.id = ? AND j.phase IN ({', '.join('?' * len(LIVE_PHASES))})"
        )
        with self._lock, sql_errors(self.path, "read the journal"):
            return (
                self._conn.execute(query, (row_id, *LIVE_PHASES)).fetchone() is not None
            )

    def batch_row_info(
        self, ids: Sequence[str]
    ) -> dict[str, tuple[str, int | None, str | None, str | None]]:
        """id -> (job, line, kept JSON, generation JSON) for the ids that a job holds."""
        found: dict[str, tuple[str, int | None, str | None, str | None]] = {}
        with self._lock, sql_errors(self.path, "read the journal"):
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                query = (
                    "SELECT id, job, line, kept, generation FROM batch_rows WHERE id IN"
                    f" ({', '.join('?' * len(chunk))})"
                )
                for row_id, job, line, kept, generation in self._conn.execute(
                    query, chunk
                ):
                    found[row_id] = (job, line, kept, generation)
        return found

    def batch_collected(self, ids: Sequence[str], started_at: datetime) -> set[str]:
        """Which of `ids` already have an outcome from the job submitted at `started_at`."""
        stamp = iso(started_at)
        done: set[str] = set()
        with self._lock, sql_errors(self.path, "read the journal"):
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                query = (
                    "SELECT id FROM outcomes WHERE started_at = ? AND id IN"
                    f" ({', '.join('?' * len(chunk))})"
                )
                done.update(
                    row_id for (row_id,) in self._conn.execute(query, (stamp, *chunk))
                )
        return done

    def batch_leftover(
        self, local_id: str, started_at: datetime, after: str = "", limit: int = 1000
    ) -> list[tuple[str, int | None, str | None]]:
        """(id, line, kept JSON) of the job's rows, after `after` by id, that have no outcome from it yet."""
        query = (
            "SELECT r.id, r.line, r.kept FROM batch_rows r"
            " LEFT JOIN outcomes o ON o.id = r.id AND o.started_at = ?"
            " WHERE r.job = ? AND r.id > ? AND o.id IS NULL ORDER BY r.id LIMIT ?"
        )
        with self._lock, sql_errors(self.path, "read the journal"):
            return [
                (row_id, line, kept)
                for row_id, line, kept in self._conn.execute(
                    query, (iso(started_at), local_id, after, limit)
                )
            ]


class BatchWrites:
    """Writes to the batch tables, each its own short transaction, synced before it returns (the reader
    connection runs with `synchronous = FULL`): an intent is on disk before the create call is sent."""

    path: Path
    _conn: sqlite3.Connection
    _lock: threading.Lock

    def batch_begin(self, record: BatchJobRecord) -> None:
        values = tuple(getattr(record, name) for name in _COLUMNS)
        with self._lock, sql_errors(self.path, "write the journal"):
            self._conn.execute(
                f"INSERT INTO batch_jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                values,
            )

    def batch_add_rows(
        self,
        local_id: str,
        rows: Sequence[tuple[str, int | None, str | None, str | None]],
    ) -> None:
        """Give `rows` (id, line, kept JSON, generation JSON) to the job; a row held by an older job moves."""
        with self._lock, sql_errors(self.path, "write the journal"):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO batch_rows (id, job, line, kept, generation) VALUES (?, ?, ?, ?, ?)",
                    [
                        (row_id, local_id, line, kept, gen)
                        for row_id, line, kept, gen in rows
                    ],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def batch_update(self, local_id: str, **values: Any) -> None:
        """Set some columns of the job (never its id, seq or creation time)."""
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._lock, sql_errors(self.path, "write the journal"):
            self._conn.execute(
                f"UPDATE batch_jobs SET {assignments} WHERE local_id = ?",
                (*values.values(), local_id),
            )

    def batch_abandon(
        self, local_id: str, *, updated_at: str, error: str | None = None
    ) -> bool:
        """A job that was never created (phase `building`): its rows go free (they are built into a later
        job). Any other phase is left alone (False): a job that may exist keeps its rows."""
        with self._lock, sql_errors(self.path, "write the journal"):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                found = self._conn.execute(
                    "SELECT 1 FROM batch_jobs WHERE local_id = ? AND phase = 'building'",
                    (local_id,),
                ).fetchone()
                if found is not None:
                    self._conn.execute(
                        "DELETE FROM batch_rows WHERE job = ?", (local_id,)
                    )
                    self._conn.execute(
                        "UPDATE batch_jobs SET phase = 'abandoned', updated_at = ?, error = COALESCE(?, error)"
                        " WHERE local_id = ?",
                        (updated_at, error, local_id),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        return found is not None
