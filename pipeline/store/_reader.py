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
from pipeline.records import (
    MAX_ATTEMPT_MESSAGE,
    AttemptRecord,
    JournalTotals,
    Outcome,
    UploadedFile,
    Usage,
)

from . import _codec as outcome_codec
from ._batch import BatchReads

JOURNAL_NAME = "journal.sqlite"
# An upload this close to expiry is not worth reusing: a long request might outlive it.
UPLOAD_MARGIN = timedelta(hours=1)
_SELECT = f"SELECT {', '.join(outcome_codec.COLUMNS)} FROM outcomes"
# The same columns with the reply's texts left out (read as NULL): what reports and figures need, much cheaper.
_TEXTS = ("text", "json", "function_calls", "kept")
_SELECT_WITHOUT_TEXTS = "SELECT {} FROM outcomes".format(
    ", ".join(f"NULL AS {c}" if c in _TEXTS else c for c in outcome_codec.COLUMNS)
)
_UPLOAD_COLUMNS = "name, uri, mime_type, state, size_bytes, sha256, expires_at"
# The `attempts` table's columns after its `seq` key, in `AttemptRecord`'s field order.
ATTEMPT_COLUMNS = (
    "row_id",
    "attempt",
    "started_at",
    "ended_at",
    "result",
    "http_status",
    "error_code",
    "message",
    "service_tier",
)


def encode_attempt(a: AttemptRecord) -> tuple[Any, ...]:
    """The attempts row of `a` (message cut to MAX_ATTEMPT_MESSAGE characters)."""
    message = a.message
    if message is not None and len(message) > MAX_ATTEMPT_MESSAGE:
        message = message[:MAX_ATTEMPT_MESSAGE]
    return (
        a.row_id,
        a.attempt,
        a.started_at,
        a.ended_at,
        a.result,
        a.http_status,
        a.error_code,
        message,
        a.service_tier,
    )


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

    def iter_outcomes(
        self, batch_size: int = 10_000, *, without_texts: bool = False
    ) -> Iterator[Outcome]:
        """Every row's latest outcome, ordered by input line then id, `batch_size` rows in memory at a time.

        `without_texts`: leave out text, json, function_calls and kept (None): for figures, not results."""
        select = _SELECT_WITHOUT_TEXTS if without_texts else _SELECT
        for rows in self._pages(batch_size, select):
            for row in rows:
                yield outcome_codec.decode(row)

    def iter_outcome_columns(
        self, batch_size: int = 5_000
    ) -> Iterator[dict[str, list[Any]]]:
        """The same outcomes in the same order, `batch_size` at a time as `outcome_codec.decode_columns` gives
        them: what the results are written from."""
        for rows in self._pages(batch_size):
            yield outcome_codec.decode_columns(rows)

    def _pages(self, batch_size: int, select: str = _SELECT) -> Iterator[list[Any]]:
        last: tuple[int, str] | None = None
        while True:
            with self._lock, sql_errors(self.path, "read the journal"):
                if last is None:
                    rows = self._conn.execute(
                        f"{select} ORDER BY line, id LIMIT ?", (batch_size,)
                    ).fetchall()
                else:
                    query = (
                        f"{select} WHERE (line, id) > (?, ?) ORDER BY line, id LIMIT ?"
                    )
                    rows = self._conn.execute(
                        query, (last[0], last[1], batch_size)
                    ).fetchall()
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            last = (rows[-1][1], rows[-1][0])

    def iter_attempts(self, batch_size: int = 10_000) -> Iterator[AttemptRecord]:
        """Every journaled request in the order it was committed, `batch_size` at a time (short reads, as
        replay does). A journal written before attempts were journaled (v1) has none."""
        select = f"SELECT seq, {', '.join(ATTEMPT_COLUMNS)} FROM attempts"
        last = -1
        while True:
            with self._lock, sql_errors(self.path, "read the journal"):
                try:
                    rows = self._conn.execute(
                        f"{select} WHERE seq > ? ORDER BY seq LIMIT ?",
                        (last, batch_size),
                    ).fetchall()
                except sqlite3.OperationalError as exc:
                    if "no such table" in str(exc):
                        return
                    raise
            for row in rows:
                yield AttemptRecord(*row[1:])
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    def totals(self) -> JournalTotals:
        # One scan, grouped finely enough to give the totals by status and by served tier.
        query = (
            "SELECT status, service_tier, (total_tokens > 0 OR cost_usd > 0), COUNT(*), SUM(input_tokens),"
            " SUM(output_tokens), SUM(thinking_tokens), SUM(cached_tokens), SUM(total_tokens),"
            " SUM(image_output_tokens), TOTAL(cost_usd), SUM(attempts), SUM(cost_usd IS NULL AND attempts > 0)"
            " FROM outcomes GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        by_status: dict[str, int] = {}
        by_tier: dict[str, dict[str, float]] = {}
        usage = Usage()
        cost = 0.0
        attempts = unpriced = 0
        with self._lock, sql_errors(self.path, "read the journal"):
            rows = self._conn.execute(query).fetchall()
            spent = self._spent()
        for (
            status,
            tier,
            billed,
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
            by_status[status] = by_status.get(status, 0) + count
            usage = usage + Usage(inp, out, think, cached, total, image)
            cost += row_cost
            attempts += row_attempts
            unpriced += row_unpriced
            if tier is not None or billed:
                add_tier(
                    by_tier,
                    tier or "unreported",
                    count,
                    (inp, out, think, cached, total),
                    row_cost,
                )
        return JournalTotals(
            sum(by_status.values()),
            by_status,
            usage,
            cost,
            attempts,
            spent,
            unpriced,
            by_tier,
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


TIER_TOKENS = (
    "input_tokens",
    "output_tokens",
    "thinking_tokens",
    "cached_tokens",
    "total_tokens",
)


def add_tier(
    by_tier: dict[str, dict[str, float]],
    tier: str,
    rows: int,
    tokens: tuple[int, ...],
    cost: float,
) -> None:
    """Add `rows` rows served at `tier`, with their `tokens` (in `TIER_TOKENS` order) and cost."""
    entry = by_tier.setdefault(
        tier, dict.fromkeys(("rows", *TIER_TOKENS, "cost_usd"), 0)
    )
    entry["rows"] += rows
    for name, count in zip(TIER_TOKENS, tokens, strict=True):
        entry[name] += count or 0
    entry["cost_usd"] += cost or 0.0


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
