"""Structured replies: fences, re-serialisation, schema checks, and unreadable 2xx bodies."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from pipeline.errors import ReplyInvalid
from pipeline.providers._schema import (
    decode_reply_body,
    strip_fence,
    structured,
    to_int,
)
from pipeline.records import Usage


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ('```\n{"a": 1}\n```\n', '{"a": 1}'),
        ("  ```JSON\n[1,\n 2]```", "[1,\n 2]"),
        ('{"a": "```"}', '{"a": "```"}'),
    ],
)
def test_strip_fence(text: str, body: str) -> None:
    assert strip_fence(text) == body


def test_structured_is_compact_and_keeps_unicode() -> None:
    assert (
        structured('{ "name" : "Zoë",  "n": [1, 2] }', None, Usage())
        == '{"name":"Zoë","n":[1,2]}'
    )


def test_a_frozen_schema_is_accepted_and_checked() -> None:
    schema = MappingProxyType(
        {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    )
    assert structured('{"n": 3}', schema, Usage()) == '{"n":3}'
    with pytest.raises(ReplyInvalid, match="at n") as caught:
        structured('{"n": "three"}', schema, Usage(input_tokens=1))
    assert caught.value.code == "SCHEMA_MISMATCH"
    assert caught.value.usage == Usage(input_tokens=1)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"a": [1, 2', "TRUNCATED"),
        (b'{"a": "unterminated', "TRUNCATED"),
        (b"   ", "TRUNCATED"),
        (b"<!DOCTYPE html><html></html>", "INVALID_JSON"),
        (b'{"a": 1} trailing', "INVALID_JSON"),
        (b"\xff\xfe{}", "INVALID_JSON"),
    ],
)
def test_unreadable_bodies(raw: bytes, code: str) -> None:
    with pytest.raises(ReplyInvalid) as caught:
        decode_reply_body(raw)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("value", "number"),
    [(5, 5), ("20971520", 20971520), ("x", 0), (None, 0), (True, 0)],
)
def test_to_int(value: object, number: int) -> None:
    assert to_int(value) == number
