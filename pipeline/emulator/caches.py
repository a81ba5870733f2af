"""Explicit context caches (`cachedContents`): the store, its validation and the wire resource.

What the real API does, and so the emulator (shared/reference/gemini-api-2026-12.md §6, and
responses recorded from the live API in September 2026):
- create: `model`, `contents`, `systemInstruction`, `tools`, `toolConfig`, `displayName`, `ttl`
  ("300s") or `expireTime` (RFC 3339); default TTL one hour, no bounds. Under the model's minimum:
  400 "Cached content is too small. total_token_count=N, min_total_token_count=M" (Vertex: "The
  cached content is of N tokens. The minimum token count to start explicit caching is M.").
- the resource: name, model, createTime, updateTime, expireTime, displayName ("" when unset),
  usageMetadata.totalTokenCount; `ttl` and the cached members are input only, never echoed.
- update: only `ttl` / `expireTime` (the SDK sends no updateMask); delete answers `{}`.
- a missing, deleted, expired or other project's cache: 403 PERMISSION_DENIED "CachedContent not
  found (or permission denied)", for GET, PATCH, DELETE and generateContent alike.
- generateContent with `cachedContent`: the cache's contents come first; sending
  systemInstruction, tools or toolConfig too is a 400; the model must be the cache's model.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import normalize as n
from .apierror import ApiError, bad_value, invalid, model_not_found
from .files import FileStore
from .ledger import Ledger
from .models import ModelInfo, lookup
from .request import CacheResolver, parse_generate

DEFAULT_TTL_S = 3600.0
MAX_PAGE = 1000
DEFAULT_PAGE = 100
NOT_FOUND = "CachedContent not found (or permission denied)"
WITH_CACHE_CONFLICT = (
    "CachedContent can not be used with GenerateContent request setting system_instruction, "
    "tools or tool_config.\n\nProposed fix: move those values to CachedContent from "
    "GenerateContent request."
)
# Minimum cacheable tokens by model (reference §6: the 2026-10 caching page gives 4,096 for 3.x
# Flash and Pro and 2,048 for 2.5; its 2026-05 table 1,024 for 3 Flash Preview; 1,024 was measured
# live on 3.5 Flash-Lite). Models not listed: DEFAULT_MIN_TOKENS.
MIN_CACHE_TOKENS = {
    "gemini-3-flash-preview": 1024,
    "gemini-3.1-flash-lite-preview": 1024,
    "gemini-3.1-flash-lite": 1024,
    "gemini-3.5-flash-lite": 1024,
    "gemini-3.1-pro-preview": 4096,
    "gemini-2.5-flash": 2048,
    "gemini-2.5-pro": 2048,
}
DEFAULT_MIN_TOKENS = 4096
CACHED_CONTENT = frozenset(
    {"model", "contents", "systemInstruction", "tools", "toolConfig", "displayName", "ttl",
     "expireTime", "name", "createTime", "updateTime", "usageMetadata", "kmsKeyName"}
)  # fmt: skip
_CACHED_MEMBERS = ("contents", "systemInstruction", "tools", "toolConfig")
_DURATION = re.compile(r"^(-?\d+(?:\.\d{1,9})?)s$")
_TIMESTAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
_PLACEHOLDER = {"role": "user", "parts": [{"text": "."}]}  # one token, taken off again


def min_cache_tokens(model: str) -> int:
    return MIN_CACHE_TOKENS.get(model, DEFAULT_MIN_TOKENS)


def iso(ts: float) -> str:
    """RFC 3339 with microseconds and Z, as the service writes timestamps."""
    return (
        datetime.fromtimestamp(ts, UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def parse_duration(value: Any, where: str) -> float:
    """A protobuf Duration as JSON ("300s", "3.5s") in seconds."""
    m = _DURATION.match(value) if isinstance(value, str) else None
    if m is None:
        raise bad_value(where, "type.googleapis.com/google.protobuf.Duration", value)
    return float(m.group(1))


def parse_timestamp(value: Any, where: str) -> float:
    """An RFC 3339 timestamp ("2026-12-03T10:00:00.5Z", offsets allowed) in epoch seconds."""
    m = _TIMESTAMP.match(value) if isinstance(value, str) else None
    if m is None:
        raise bad_value(where, "type.googleapis.com/google.protobuf.Timestamp", value)
    day, clock, fraction, zone = m.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        stamp = datetime.fromisoformat(f"{day}T{clock}{zone}")
    except ValueError:
        raise bad_value(
            where, "type.googleapis.com/google.protobuf.Timestamp", value
        ) from None
    return stamp.timestamp() + (float(fraction) if fraction else 0.0)


@dataclass(slots=True)
class CacheEntry:
    """One cache: what it holds (camelCase members), its size and its lifetime (epoch seconds)."""

    id: str
    owner: str
    model: str
    display_name: str
    members: dict[str, Any]
    details: dict[str, int]
    created: float
    updated: float
    expire: float
    parent: str | None = None  # Vertex: "projects/P/locations/L"
    model_path: str = field(default="")

    @property
    def tokens(self) -> int:
        return sum(self.details.values())

    @property
    def name(self) -> str:
        base = f"cachedContents/{self.id}"
        return f"{self.parent}/{base}" if self.parent else base

    def resource(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model_path or f"models/{self.model}",
            "createTime": iso(self.created),
            "updateTime": iso(self.updated),
            "expireTime": iso(self.expire),
            "displayName": self.display_name,
            "usageMetadata": {"totalTokenCount": self.tokens},
        }


class CacheStore:
    """The caches of one emulator; expired ones vanish (and end their storage) when next looked at."""

    def __init__(self, ledger: Ledger, files: FileStore, seed: int = 0) -> None:
        self.ledger = ledger
        self.files = files
        self.seed = seed
        self.entries: dict[str, CacheEntry] = {}
        self._counter = 0

    def _new_id(self) -> str:
        self._counter += 1
        digest = hashlib.blake2b(
            self._counter.to_bytes(8, "big"),
            digest_size=32,
            key=self.seed.to_bytes(8, "big", signed=True) + b"caches",
        ).digest()
        number = int.from_bytes(digest, "big")
        chars = []
        for _ in range(40):
            number, rem = divmod(number, 36)
            chars.append("0123456789abcdefghijklmnopqrstuvwxyz"[rem])
        return "".join(chars)

    # -- lookups ----------------------------------------------------------------------------------

    def _live(self, entry: CacheEntry, now: float) -> bool:
        if entry.expire > now:
            return True
        self.entries.pop(entry.id, None)
        self.ledger.billing.cache_ended(entry.id, now, expired=True)
        return False

    def find(self, owner: str, name: Any) -> CacheEntry:
        """The live cache `name` (`cachedContents/ID`, or the Vertex path) of `owner`, else 403."""
        if not isinstance(name, str) or "cachedContents/" not in name:
            raise ApiError(403, NOT_FOUND)
        entry = self.entries.get(name.rsplit("cachedContents/", 1)[1])
        if entry is None or entry.owner != owner or not self._live(entry, time.time()):
            raise ApiError(403, NOT_FOUND)
        return entry

    def page(
        self, owner: str, size: int, token: str | None
    ) -> tuple[list[CacheEntry], str | None]:
        now = time.time()
        mine = [
            e
            for e in list(self.entries.values())
            if e.owner == owner and self._live(e, now)
        ]
        start = int(token) if token and token.isdigit() else 0
        more = start + size < len(mine)
        return mine[start : start + size], (str(start + size) if more else None)

    # -- changes ----------------------------------------------------------------------------------

    def create(
        self,
        owner: str,
        body: Any,
        *,
        version: str = "v1beta",
        parent: str | None = None,
    ) -> CacheEntry:
        """Validate a CachedContent body as the service does and store it."""
        data = n.fields(body, CACHED_CONTENT, "cached_content")
        raw_model = data.get("model")
        if not isinstance(raw_model, str) or not raw_model:
            raise invalid(
                "* CreateCachedContentRequest.cached_content.model: model is required\n",
                "cached_content.model",
            )
        model_id = raw_model.rsplit("models/", 1)[-1]
        model = lookup(model_id)
        if model is None:
            if parent is not None:
                raise ApiError(
                    404,
                    f"Publisher Model `{raw_model}` was not found or your project does not have "
                    "access to it. Please ensure you are using a valid model version.",
                )
            raise model_not_found(model_id, "createCachedContent", version)
        display = data.get("displayName", "")
        display = n.as_str(display, "cached_content.display_name")
        if len(display) > 128:
            raise invalid(
                "* CreateCachedContentRequest.cached_content.display_name: display_name must be "
                "at most 128 characters\n",
                "cached_content.display_name",
            )
        now = time.time()
        expire = self._expiry(data, now)
        members = {k: data[k] for k in _CACHED_MEMBERS if data.get(k) is not None}
        details = self.count(members, model)
        tokens = sum(details.values())
        minimum = min_cache_tokens(model.id)
        if tokens < minimum:
            if parent is not None:
                raise invalid(
                    f"The cached content is of {tokens} tokens. The minimum token count to start "
                    f"explicit caching is {minimum}."
                )
            raise invalid(
                f"Cached content is too small. total_token_count={tokens}, "
                f"min_total_token_count={minimum}"
            )
        entry = CacheEntry(
            self._new_id(), owner, model.id, display, members, details, now, now, expire,
            parent=parent, model_path=raw_model if parent is not None else f"models/{model.id}",
        )  # fmt: skip
        self.entries[entry.id] = entry
        self.ledger.billing.cache_created(entry.id, model.id, tokens, now, expire)
        return entry

    def count(self, members: dict[str, Any], model: ModelInfo) -> dict[str, int]:
        """Tokens of the cached members by modality (validated like a generateContent body)."""
        body = dict(members)
        placeholder = not body.get("contents")
        if placeholder:
            body["contents"] = [_PLACEHOLDER]
        req = parse_generate(body, model, self.files.resolve)
        details = dict(req.prompt_details)
        if placeholder:
            details["TEXT"] -= 1
        return {m: c for m, c in details.items() if c}

    def update(
        self, owner: str, name: str, body: Any, update_mask: str | None
    ) -> CacheEntry:
        """PATCH: a new `ttl` (from now) or `expireTime`; nothing else can change."""
        if isinstance(body, dict) and "name" in body:
            raise invalid(
                "Invalid value at 'cached_content' (oneof), oneof field '_name' is already set. "
                "Cannot set 'name'"
            )
        data = n.fields(body, CACHED_CONTENT, "cached_content")
        if update_mask:
            for path in update_mask.split(","):
                if n.camel(path.strip()) not in ("ttl", "expireTime"):
                    raise invalid(
                        f"Invalid update mask path {path.strip()!r}: only ttl and expire_time "
                        "can be updated.",
                        "update_mask",
                    )
        entry = self.find(owner, name)
        now = time.time()
        if "ttl" in data or "expireTime" in data:
            entry.expire = self._expiry(data, now)
            entry.updated = now
            self.ledger.billing.cache_updated(entry.id, entry.expire)
        return entry

    def delete(self, owner: str, name: str) -> None:
        entry = self.find(owner, name)
        del self.entries[entry.id]
        self.ledger.billing.cache_ended(entry.id, time.time(), expired=False)

    @staticmethod
    def _expiry(data: dict[str, Any], now: float) -> float:
        if "ttl" in data and "expireTime" in data:
            raise invalid(
                "Invalid value at 'cached_content' (oneof), oneof field 'expiration' is already "
                "set. Cannot set 'expireTime'"
            )
        if "expireTime" in data:
            return parse_timestamp(data["expireTime"], "cached_content.expire_time")
        if "ttl" in data:
            seconds = parse_duration(data["ttl"], "cached_content.ttl")
            if seconds < 0:
                raise invalid(
                    "* CreateCachedContentRequest.cached_content.ttl: ttl must not be negative\n",
                    "cached_content.ttl",
                )
            return now + seconds
        return now + DEFAULT_TTL_S

    # -- use in generateContent -------------------------------------------------------------------

    def resolver(self, owner: str) -> CacheResolver:
        """For parse_generate: merge the named cache into a generate body of `owner`."""

        def resolve(
            req: dict[str, Any], model: ModelInfo
        ) -> tuple[dict[str, Any], dict[str, int]]:
            if (
                req.get("tools")
                or req.get("systemInstruction") is not None
                or req.get("toolConfig") is not None
            ):
                raise invalid(WITH_CACHE_CONFLICT)
            entry = self.find(owner, req["cachedContent"])
            if entry.model != model.id:
                raise invalid(
                    f"Model used by GenerateContent request (models/{model.id}) and "
                    f"CachedContent (models/{entry.model}) has to be the same."
                )
            merged = {k: v for k, v in req.items() if k != "cachedContent"}
            merged["contents"] = [
                *entry.members.get("contents", []),
                *n.as_list(req["contents"], "contents"),
            ]
            for key in ("systemInstruction", "tools", "toolConfig"):
                if key in entry.members:
                    merged[key] = entry.members[key]
            return merged, dict(entry.details)

        return resolve
