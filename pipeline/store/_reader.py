"""The read side of the journal: resume sets, replay, totals, spend, meta values and known uploads.

Every query is short (replay pages through the outcomes by key instead of holding one long read), so readers
never keep SQLite from checkpointing the WAL while a run is writing. One connection per reader, serialised by a
lock, so the methods are safe to call from worker threads (`anyio.to_thread.run_sync`) as well as the loop.
`JournalReader.open_readonly()` is what `pipeline status` uses: it takes no run lock and writes nothing.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.errors import OutputError
from pipeline.records import JournalTotals, Outcome, UploadedFile, Usage

from . import _codec as outcome_codec
from ._batch import BatchReads

JOURNAL_NAME = "journal.sqlite"
# An upload this close to expiry is not worth reusing: a long request might outlive it.
UPLOAD_MARGIN = timedelta(hours=1)
_SELECT = f"SELECT {', '.join(outcome_codec.COLUMNS)} FROM outcomes"
_UPLOAD_COLUMNS = "name, uri, mime_type, state, size_bytes, sha256, expires_at"


@contextlib.contextmanager
def sql_errors(path: Path, doing: str) -> Iterator[None]:
    """Turn SQLite and OS failures into `OutputError` with the path, the reason and what to do."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        hint = ""
        if (
            "full" in reason.lower()
            or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        ):
            hint = "; free some disk space and run the job again to resume"
        raise OutputError(f"{path}: cannot {doing}: {reason}{hint}") from exc


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN/COMMIT ourselves), usable from any one thread at a time."""
    target = f"{path.resolve().as_uri()}?mode=ro" if read_only else str(path)
    conn = sqlite3.connect(
        target,
        uri=read_only,
        isolation_level=None,
        check_same_thread=False,
        timeout=30.0,
    )
    return conn


class JournalReader(BatchReads):
    """Queries on one journal database; see the module docstring."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open_readonly(cls, run_dir: Path) -> JournalReader:
        """Open DIR's journal for reading only, even while a run holds DIR; OutputError if DIR holds no run."""
        path = Path(run_dir) / JOURNAL_NAME
        if not path.is_file():
            raise OutputError(
                f"{run_dir} holds no run (no {JOURNAL_NAME}); pass the --out directory of a run"
            )
        with sql_errors(path, "open the journal"):
            conn = connect(path, read_only=True)
            try:
                conn.execute("SELECT 1 FROM outcomes LIMIT 1").fetchall()
            except sqlite3.Error:
                conn.close()
                raise
        return cls(path, conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def final_ids(self, *, retry_failed: bool = False) -> set[str]:
        """Ids that must not be sent again: `ok` and `blocked`, and `failed` and `truncated` unless `retry_failed`.

        `invalid` rows are never in it: they cost nothing and are checked again on resume (the media file that
        was missing may be there now).
        """
        statuses = (
            ("ok", "blocked")
            if retry_failed
            else ("ok", "blocked", "failed", "truncated")
        )
        marks = ", ".join("?" * len(statuses))
        with self._lock, sql_errors(self.path, "read the journal"):
            cursor = self._conn.execute(
                f"SELECT id FROM outcomes WHERE status IN ({marks})", statuses
            )
            return {row_id for (row_id,) in cursor}

    def iter_outcomes(self, batch_size: int = 10_000) -> Iterator[Outcome]:
        """Every row's latest outcome, ordered by input line then id, `batch_size` rows in memory at a time."""
        for rows in self._pages(batch_size):
            for row in rows:
                yield outcome_codec.decode(row)

    def iter_outcome_columns(
        self, batch_size: int = 5_000
    ) -> Iterator[dict[str, list[Any]]]:
        """The same outcomes in the same order, `batch_size` at a time as `outcome_codec.decode_columns` gives
        them: what the results are written from."""
        for rows in self._pages(batch_size):
            yield outcome_codec.decode_columns(rows)

    def _pages(self, batch_size: int) -> Iterator[list[Any]]:
        last: tuple[int, str] | None = None
        while True:
            with self._lock, sql_errors(self.path, "read the journal"):
                if last is None:
                    rows = self._conn.execute(
                        f"{_SELECT} ORDER BY line, id LIMIT ?", (batch_size,)
                    ).fetchall()
                else:
                    query = (
                        f"{_SELECT} WHERE (line, id) > (?, ?) ORDER BY line, id LIMIT ?"
                    )
                    rows = self._conn.execute(
                        query, (last[0], last[1], batch_size)
                    ).fetchall()
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            last = (rows[-1][1], rows[-1][0])

    def totals(self) -> JournalTotals:
        query = (
            "SELECT status, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(thinking_tokens),"
            " SUM(cached_tokens), SUM(total_tokens), SUM(image_output_tokens), TOTAL(cost_usd), SUM(attempts),"
            " SUM(cost_usd IS NULL AND attempts > 0) FROM outcomes GROUP BY status ORDER BY status"
        )
        by_status: dict[str, int] = {}
        usage = Usage()
        cost = 0.0
        attempts = unpriced = 0
        with self._lock, sql_errors(self.path, "read the journal"):
            rows = self._conn.execute(query).fetchall()
            spent = self._spent()
        for (
            status,
            count,
            inp,
            out,
            think,
            cached,
            total,
            image,
            row_cost,
            row_attempts,
            row_unpriced,
        ) in rows:
            by_status[status] = count
            usage = usage + Usage(inp, out, think, cached, total, image)
            cost += row_cost
            attempts += row_attempts
            unpriced += row_unpriced
        return JournalTotals(
            sum(by_status.values()), by_status, usage, cost, attempts, spent, unpriced
        )

    def spent_usd(self) -> float:
        """What every outcome journaled so far cost, replaced ones included: the budget carries across resumes."""
        with self._lock, sql_errors(self.path, "read the journal"):
            return self._spent()

    def _spent(self) -> float:
        row = self._conn.execute("SELECT usd FROM spend").fetchone()
        return float(row[0]) if row else 0.0

    def load_meta(self, key: str) -> object | None:
        with self._lock, sql_errors(self.path, "read the journal"):
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def get_upload(self, sha256: str) -> UploadedFile | None:
        """A known upload of this content, or None when unknown or expiring within the hour."""
        with self._lock, sql_errors(self.path, "read the journal"):
            query = f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE key = ?"
            row = self._conn.execute(query, (sha256,)).fetchone()
        if row is None:
            return None
        upload = _upload_from_row(row)
        if (
            upload.expires_at is not None
            and upload.expires_at < datetime.now(UTC) + UPLOAD_MARGIN
        ):
            return None
        return upload

    def iter_uploads(self) -> Iterator[UploadedFile]:
        with self._lock, sql_errors(self.path, "read the journal"):
            rows = self._conn.execute(
                f"SELECT {_UPLOAD_COLUMNS} FROM uploads ORDER BY key"
            ).fetchall()
        return iter([_upload_from_row(row) for row in rows])


def _upload_from_row(row: tuple[object, ...]) -> UploadedFile:
    name, uri, mime_type, state, size_bytes, sha256, expires_at = row
    return UploadedFile(
        name=str(name),
        uri=str(uri),
        mime_type=str(mime_type),
        state=str(state),
        size_bytes=int(size_bytes or 0),  # type: ignore[call-overload]
        sha256=None if sha256 is None else str(sha256),
        expires_at=None
        if expires_at is None
        else datetime.fromisoformat(str(expires_at)).astimezone(UTC),
    )
