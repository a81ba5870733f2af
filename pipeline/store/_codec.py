"""How an `Outcome` is stored in the journal: one SQLite column per field.

Plain columns rather than one JSON payload: the texts are the bulk of a row, and binding them as they are is
several times cheaper than escaping them into JSON and parsing them back, on the path that every reply takes
(about 5 us to encode and 10 us to decode a typical row). Only the two nested values, `images` and `kept`, are
JSON, and only when not empty. SQL reads the counting columns directly (resume sets, totals, replay order).

The round trip is exact: `decode(encode(o)) == o`, with datetimes as tz-aware UTC (a naive datetime is taken
to be UTC, an aware one is converted to UTC). A string that is not valid Unicode (a lone surrogate, which a
JSON reply can carry) is stored as a BLOB of its surrogate-escaped UTF-8, so it cannot fail a group commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.records import ImageFile, Outcome, Usage
from pipeline.records.columns import JOURNAL

# `line` is part of the replay order (line, id), so it is NOT NULL; an outcome without a line number sorts first.
NO_LINE = -(2**63)

COLUMNS: tuple[str, ...] = tuple(c.name for c in JOURNAL)

_SQL_TYPES: dict[str, str] = {
    "string": "TEXT",
    "json": "TEXT",
    "images": "TEXT",
    "timestamp": "TEXT",
    "int32": "INTEGER",
    "int64": "INTEGER",
    "float64": "REAL",
}
COLUMN_TYPES: dict[str, str] = {
    c.name: (
        "TEXT PRIMARY KEY"
        if c.name == "id"
        else _SQL_TYPES[c.kind] + (" NOT NULL" if c.not_null else "")
    )
    for c in JOURNAL
}


def to_utc(value: datetime) -> datetime:
    """A tz-aware UTC datetime: naive values are taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo is UTC else to_utc(value)).isoformat()


def _from_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def _text(value: str | None) -> str | bytes | None:
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")
    return value


def _untext(value: str | bytes | None) -> str | None:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


def _json(value: Any) -> str | bytes | None:
    return (
        _text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        if value
        else None
    )


def encode(outcome: Outcome) -> tuple[Any, ...]:
    """The row for `INSERT INTO outcomes (COLUMNS)`.

    Raises TypeError when a kept field is not JSON-serialisable, in the caller, so one bad outcome never fails
    the group commit it would have joined.
    """
    u = outcome.usage
    images = [[i.path, i.mime_type, i.sha256, i.bytes] for i in outcome.images]
    return (
        _text(outcome.id),
        NO_LINE if outcome.line is None else outcome.line,
        outcome.status,
        outcome.cost_usd,
        u.input_tokens,
        u.output_tokens,
        u.thinking_tokens,
        u.cached_tokens,
        u.total_tokens,
        u.image_output_tokens,
        outcome.attempts,
        outcome.latency_ms,
        _iso(outcome.started_at),
        _iso(outcome.finished_at),
        _text(outcome.text),
        _text(outcome.json),
        _text(outcome.function_calls),
        _text(outcome.finish_reason),
        _text(outcome.model_version),
        _text(outcome.error_code),
        _text(outcome.error_message),
        _json(images),
        _json(dict(outcome.kept)),
        _text(outcome.thoughts),
        _text(outcome.service_tier),
    )


_TEXT_COLUMNS = (
    "id",
    "text",
    "json",
    "function_calls",
    "finish_reason",
    "model_version",
    "error_code",
    "error_message",
    "thoughts",
    "service_tier",
)


def decode_columns(rows: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """`rows` (selected in COLUMNS order) as one list per column, for the sink.

    Decoded as `decode` does, except: the timestamps stay ISO-8601 text (Arrow parses them in C), `images` is a
    list of (path, mime_type, sha256, bytes) tuples per row and `kept` a dict per row. Why not `decode` each
    row: building an `Outcome` only to take it apart again was most of the time it took to write the results.
    """
    if not rows:
        return {name: [] for name in COLUMNS}
    columns = dict(zip(COLUMNS, map(list, zip(*rows, strict=True)), strict=True))
    for name in _TEXT_COLUMNS:
        values = columns[name]
        if bytes in map(type, values):  # a text with a lone surrogate (rare)
            columns[name] = [_untext(value) for value in values]
    columns["line"] = [None if line == NO_LINE else line for line in columns["line"]]
    columns["images"] = [
        [tuple(image) for image in json.loads(_untext(images) or "[]")]
        if images
        else []
        for images in columns["images"]
    ]
    columns["kept"] = [
        json.loads(_untext(kept) or "{}") if kept else {} for kept in columns["kept"]
    ]
    return columns


def decode(row: Sequence[Any]) -> Outcome:
    """The inverse of `encode`, from a row selected in COLUMNS order."""
    (row_id, line, status, cost, inp, out, think, cached, total, image, attempts, latency, started, finished,
     text, json_text, calls, finish, model, code, message, images, kept, thoughts, tier) = row  # fmt: skip
    return Outcome(
        id=_untext(row_id),  # type: ignore[arg-type]
        status=status,
        usage=Usage(inp, out, think, cached, total, image),
        text=_untext(text),
        json=_untext(json_text),
        images=tuple(ImageFile(*i) for i in json.loads(_untext(images) or "[]")),
        function_calls=_untext(calls),
        finish_reason=_untext(finish),
        model_version=_untext(model),
        cost_usd=cost,
        attempts=attempts,
        latency_ms=latency,
        error_code=_untext(code),
        error_message=_untext(message),
        started_at=_from_iso(started),
        finished_at=_from_iso(finished),
        line=None if line == NO_LINE else line,
        kept=json.loads(_untext(kept) or "{}") if kept else {},
        thoughts=_untext(thoughts),
        service_tier=_untext(tier),
    )
