"""Implicit context caching (opt-in, `implicit_cache`): a prompt whose leading parts were sent before
reports them as `cachedContentTokenCount`, as the real API does for 2.5 and newer models.

A prompt is read in the order the model sees it: system instruction parts, the tools, then each
part of each content. After every part the prefix so far has a running hash and a token count.
A prefix of at least the model's minimum cacheable size (caches.min_cache_tokens) is remembered
for `implicit_cache_ttl_s`, per (API key, model). The longest remembered prefix of a new request
is its cache hit. Hits are billed at the cached-input rate, with no storage charge.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

from .caches import min_cache_tokens
from .jsonio import dumps
from .request import GenRequest

MAX_PREFIXES = 200_000


class ImplicitCache:
    """Remembered prefixes: hash -> monotonic expiry, oldest first."""

    def __init__(self, ttl_s: float, max_prefixes: int = MAX_PREFIXES) -> None:
        self.ttl_s = ttl_s
        self.max_prefixes = max_prefixes
        self.seen: OrderedDict[bytes, float] = OrderedDict()

    def apply(self, key: str, req: GenRequest, now: float | None = None) -> None:
        """Set `req.cache_details` to the longest prefix seen before; remember this request's."""
        if req.cache_details or not isinstance(req.source, dict):
            return
        now = time.monotonic() if now is None else now
        minimum = min_cache_tokens(req.model.id)
        hit: dict[str, int] = {}
        for digest, details in checkpoints(key, req):
            if sum(details.values()) < minimum:
                continue
            expiry = self.seen.get(digest)
            if expiry is not None and expiry > now:
                hit = details
            self.seen[digest] = now + self.ttl_s
            self.seen.move_to_end(digest)
        while len(self.seen) > self.max_prefixes:
            self.seen.popitem(last=False)
        if hit:
            req.cache_details = dict(hit)
            req.implicit_cache = True


def checkpoints(key: str, req: GenRequest) -> list[tuple[bytes, dict[str, int]]]:
    """(running hash, tokens so far by modality) after each part, in prompt order."""
    body: dict[str, Any] = req.source
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    content_parts = [
        (str(c.get("role", "user")), p) for c in contents for p in c.get("parts") or []
    ]
    system = body.get("systemInstruction")
    system_parts = (
        [("system", p) for p in system.get("parts") or []]
        if isinstance(system, dict)
        else []
    )
    part_tokens = req.part_tokens
    if len(part_tokens) != len(content_parts) + len(system_parts):
        return []  # not the body that was parsed; never guess
    n_content = len(content_parts)
    counted = sum(sum(t.values()) for t in part_tokens)
    tools_tokens = max(0, req.prompt_tokens - counted)
    steps: list[tuple[bytes, dict[str, int]]] = []
    running = hashlib.blake2b(
        f"{key}\x00{req.model.id}".encode(), digest_size=16
    ).digest()
    total: dict[str, int] = {}

    def step(label: str, blob: Any, tokens: dict[str, int]) -> None:
        nonlocal running
        running = hashlib.blake2b(
            running + label.encode() + dumps(blob), digest_size=16
        ).digest()
        for modality, count in tokens.items():
            total[modality] = total.get(modality, 0) + count
        steps.append((running, dict(total)))

    for (role, part), tokens in zip(system_parts, part_tokens[n_content:], strict=True):
        step(role, part, tokens)
    if body.get("tools") or body.get("toolConfig") is not None:
        step(
            "tools", [body.get("tools"), body.get("toolConfig")], {"TEXT": tools_tokens}
        )
    for (role, part), tokens in zip(
        content_parts, part_tokens[:n_content], strict=True
    ):
        step(role, part, tokens)
    return steps
