"""Structured replies: the model's text -> compact JSON that matches the job's response schema.

Both wire formats end here, so a reply is judged the same way whoever sent it. A reply that does not parse or
does not validate raises `ReplyInvalid` carrying the reply's usage: the attempt was billed, and a fresh
attempt usually gets it right (models are not deterministic), so the retry policy tries again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.errors import ReplyInvalid
from pipeline.records import Usage

if TYPE_CHECKING:
    import jsonschema.protocols

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)

# Compiled validators by schema identity; the schema object is held too, so its id cannot be reused.
_VALIDATORS: dict[int, tuple[Mapping[str, Any], jsonschema.protocols.Validator]] = {}
_MAX_CACHED = 64


def to_json(value: object) -> str:
    """Compact JSON, non-ASCII kept as is: what the `json` and `function_calls` columns hold."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    """`json.dumps` fallback for read-only mappings (the spec freezes what it loads)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def strip_fence(text: str) -> str:
    """The body of a ```json fenced block, or `text` unchanged (models add fences despite being told not to)."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


def structured(text: str, schema: Mapping[str, Any] | None, usage: Usage) -> str:
    """Parse `text` as JSON, validate it against `schema` when there is one, and return it re-serialised.

    :raises ReplyInvalid: code INVALID_JSON when the text is not JSON, SCHEMA_MISMATCH when it does not validate.
    """
    try:
        value = json.loads(strip_fence(text))
    except ValueError as exc:
        raise ReplyInvalid(
            f"the reply is not valid JSON ({exc}); it starts with {text[:80]!r}",
            code="INVALID_JSON",
            usage=usage,
        ) from None
    if schema is not None:
        import jsonschema.exceptions  # on first use: 50 ms of start-up that most jobs never need

        error = jsonschema.exceptions.best_match(_validator(schema).iter_errors(value))
        if error is not None:
            where = "/".join(str(step) for step in error.absolute_path) or "(root)"
            raise ReplyInvalid(
                f"the reply does not match the response schema at {where}: {error.message}",
                code="SCHEMA_MISMATCH",
                usage=usage,
            )
    return to_json(value)


def _validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    import jsonschema.validators

    plain = json.loads(to_json(schema))  # jsonschema wants plain dicts
    validator = jsonschema.validators.validator_for(plain)(plain)
    if len(_VALIDATORS) >= _MAX_CACHED:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def decode_reply_body(raw: bytes) -> Any:
    """A 2xx body as JSON. A body that stops mid-way is TRUNCATED, anything else unreadable INVALID_JSON; both
    are retried (a proxy or a dropped connection, not the model, produced them)."""
    try:
        return json.loads(raw)
    except ValueError as exc:
        text = raw.decode("utf-8", errors="replace")
        cut = not text.strip()
        if isinstance(exc, json.JSONDecodeError):
            cut = (
                cut
                or exc.pos >= len(text.rstrip())
                or exc.msg.startswith("Unterminated string")
            )
        if cut:
            raise ReplyInvalid(
                f"the reply body ends mid-way after {len(raw)} bytes", code="TRUNCATED"
            ) from None
        raise ReplyInvalid(
            f"the reply body is not JSON ({exc}); it starts with {text[:80]!r}",
            code="INVALID_JSON",
        ) from None


def to_int(value: object) -> int:
    """int64 fields may arrive as JSON strings."""
    if type(value) is int:  # nearly always
        return value
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0
