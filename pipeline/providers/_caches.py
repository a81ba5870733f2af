"""Explicit context caches (`cachedContents`) on the Gemini wire format, shared by AI Studio and Vertex.

A cache holds what every row of a job shares: the system instruction, the tools and the shared files (one user
turn). Create: `POST .../cachedContents` with `model`, `contents`, `systemInstruction`, `tools`, `ttl` ("3600s")
and `displayName`; the reply is the resource (`name`, `expireTime`, `usageMetadata.totalTokenCount`). Only the TTL
can be changed (`PATCH` with `{"ttl": ...}`); `GET` and `DELETE` by name (reference section 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.errors import ReplyInvalid
from pipeline.records import Prompt

from ._gemini_wire import part_json, tool_config_json, tools_json
from ._schema import decode_reply_body, to_int

__all__ = ("CachedContent", "cache_body", "cache_from", "ttl_text")


@dataclass(frozen=True, slots=True)
class CachedContent:
    """A cache as the provider describes it: `name` ("cachedContents/ID", or Vertex's full path), its size in
    tokens and when it expires (None when the reply does not say)."""

    name: str
    tokens: int
    expire_at: datetime | None = None


def ttl_text(seconds: float) -> str:
    """A protobuf Duration: 3600 -> "3600s", 1.5 -> "1.5s" (at most 9 decimals)."""
    text = f"{max(0.0, seconds):.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def cache_body(
    prefix: Prompt, *, model: str, ttl_s: float, display_name: str
) -> dict[str, Any]:
    """The create body for `prefix`: its parts (the shared files) as one user turn, its system instruction and
    its generation's tools. `model` is "models/ID" (Vertex: the publisher model's full path)."""
    body: dict[str, Any] = {"model": model}
    if prefix.parts:
        body["contents"] = [
            {"role": "user", "parts": [part_json(part) for part in prefix.parts]}
        ]
    if prefix.system:
        body["systemInstruction"] = {"parts": [{"text": prefix.system}]}
    tools = tools_json(prefix.generation)
    if tools:
        body["tools"] = tools
    tool_config = tool_config_json(prefix.generation)
    if tool_config:
        body["toolConfig"] = tool_config
    body["ttl"] = ttl_text(ttl_s)
    body["displayName"] = display_name[:128]
    return body


def cache_from(raw: bytes) -> CachedContent:
    """A CachedContent resource -> CachedContent; ReplyInvalid when it has no name."""
    doc = decode_reply_body(raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise ReplyInvalid(
            "the reply is not a CachedContent resource (no name)", code="INVALID_JSON"
        )
    usage = doc.get("usageMetadata")
    tokens = to_int(usage.get("totalTokenCount")) if isinstance(usage, dict) else 0
    expire = doc.get("expireTime")
    expire_at = None
    if isinstance(expire, str):
        try:
            expire_at = datetime.fromisoformat(expire)
        except ValueError:
            expire_at = None
    return CachedContent(doc["name"], tokens, expire_at)
