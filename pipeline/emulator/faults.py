"""Fault directives and random faults: parse and decide, no I/O (so every rule is unit-testable).

A directive is written inside the prompt text, `[[emu:ITEM,ITEM...]]`; several blocks may appear.
Items (N is an attempt count: only the first N attempts of this exact request body are affected;
without `xN` every attempt is):

    fail=CODE[xN]      answer CODE (400, 403, 408, 429, 500, 503, 504) instead of the reply
    error=NAME[xN]     answer a run-level error as the service words it (runerrors.NAMES): billing,
                       location (400 FAILED_PRECONDITION), denied, leaked, suspended (403),
                       quota_day, help_only, exhausted, spend_cap (429)
    retry=3s | 1.5 | none   the retryDelay of a 429 from `fail=429` or `error=quota_day`
                       (none: no RetryInfo)
    hang=S[xN]         stall S seconds, then answer normally
    reset[xN]          close the connection without answering
    malformed[xN]      200 with a body that is not JSON
    truncated[xN]      200 with the body cut in the middle
    latency=S          answer after S seconds instead of the configured latency
    block=REASON       promptFeedback.blockReason = REASON, no candidates
    finish=REASON      a candidate with `content: {}` and finishReason REASON (safety ratings
                       blocked and finishMessage where the service sends them, finish.py)
    max_tokens         finishReason MAX_TOKENS, `content: {"role": "model"}` and no parts
    image_safety       finishReason IMAGE_SAFETY and no image
    no_image           finishReason NO_IMAGE and no image
    json_invalid[xN]   a JSON reply that does not match the response schema

Directives win over random faults. Random faults are drawn from (seed, body hash, attempt), so a
run with the same seed sends the same faults to the same rows whatever the order.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

__all__ = (
    "ERROR_NAMES",
    "NO_FAULT",
    "Decision",
    "DirectiveError",
    "decide",
    "parse",
    "random_fault",
)

FAIL_CODES = frozenset({400, 403, 408, 429, 500, 503, 504})
# error=NAME: the run-level errors of runerrors.py (kept here too, so parsing needs no I/O module).
ERROR_NAMES = frozenset(
    {"billing", "location", "denied", "leaked", "suspended", "quota_day", "help_only", "exhausted", "spend_cap"}
)  # fmt: skip
BLOCK_REASONS = frozenset(
    {"SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "IMAGE_SAFETY"}
)
FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "OTHER",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "MALFORMED_FUNCTION_CALL",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
        "MALFORMED_RESPONSE",
        "MISSING_THOUGHT_SIGNATURE",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "IMAGE_OTHER",
    }
)
RANDOM_KINDS = frozenset(
    {"429", "500", "503", "504", "reset", "hang", "malformed", "truncated"}
)
MARKER = "[[emu:"
_BLOCK = re.compile(r"\[\[emu:([^\]]*)\]\]")
_ITEM = re.compile(r"^([a-z_]+?)(?:x(\d+))?$")
_TIMED = re.compile(r"^(\d+(?:\.\d+)?)(?:x(\d+))?$")


class DirectiveError(ValueError):
    """A directive that does not parse; the emulator answers 400 so typos are not silently ignored."""


@dataclass(frozen=True, slots=True)
class Limited:
    """A directive value and how many first attempts it applies to (None: all of them)."""

    value: float | int | str | bool
    times: int | None = None

    def active(self, attempt: int) -> bool:
        return self.times is None or attempt <= self.times


@dataclass(frozen=True, slots=True)
class Directives:
    """What the prompt asked for, keyed by item name."""

    items: dict[str, Limited] = field(default_factory=dict)
    retry_s: float | None = None
    retry_none: bool = False


NO_DIRECTIVES = Directives()


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one attempt. Transport faults first, then reply shaping."""

    status: int | None = None
    retry_s: float | None = None  # RetryInfo of a 429; None: no RetryInfo
    error: str | None = None  # error=NAME: a run-level error (runerrors.named)
    retry_none: bool = False  # `retry=none` with error=NAME
    hang_s: float = 0.0
    reset: bool = False
    malformed: bool = False
    truncated: bool = False
    latency_s: float | None = None
    block: str | None = None
    finish: str | None = None
    max_tokens: bool = False
    image_safety: bool = False
    no_image: bool = False
    json_invalid: bool = False
    random: bool = False


NO_FAULT = Decision()


def parse(text: str) -> Directives:
    """All `[[emu:...]]` blocks in `text`; raises DirectiveError for an unknown or malformed item."""
    if MARKER not in text:
        return NO_DIRECTIVES
    items: dict[str, Limited] = {}
    retry_s: float | None = None
    retry_none = False
    for block in _BLOCK.findall(text):
        for raw in block.split(","):
            raw = raw.strip()
            if not raw:
                continue
            key, _, value = raw.partition("=")
            key = key.strip().lower()
            value = value.strip()
            if key == "retry":
                if value.lower() == "none":
                    retry_none = True
                else:
                    retry_s = _seconds(value, raw)
            elif value:
                items[key] = _valued(key, value, raw)
            else:
                m = _ITEM.match(key)
                if m is None or m.group(1) not in _FLAGS:
                    raise DirectiveError(f"unknown emulator directive {raw!r}")
                items[m.group(1)] = Limited(
                    True, int(m.group(2)) if m.group(2) else None
                )
    return Directives(items, retry_s, retry_none)


_FLAGS = frozenset(
    {
        "reset",
        "malformed",
        "truncated",
        "max_tokens",
        "image_safety",
        "no_image",
        "json_invalid",
    }
)


def _valued(key: str, value: str, raw: str) -> Limited:
    if key in ("fail", "hang"):
        m = _TIMED.match(value)
        if m is None:
            raise DirectiveError(
                f"bad emulator directive {raw!r}: expected {key}=NUMBER[xN]"
            )
        times = int(m.group(2)) if m.group(2) else None
        if key == "hang":
            return Limited(float(m.group(1)), times)
        code = int(float(m.group(1)))
        if code not in FAIL_CODES:
            raise DirectiveError(
                f"bad emulator directive {raw!r}: status must be one of {sorted(FAIL_CODES)}"
            )
        return Limited(code, times)
    if key == "error":
        m = _ITEM.match(value.lower())
        if m is None or m.group(1) not in ERROR_NAMES:
            raise DirectiveError(
                f"bad emulator directive {raw!r}: error must be one of {sorted(ERROR_NAMES)}"
            )
        return Limited(m.group(1), int(m.group(2)) if m.group(2) else None)
    if key == "latency":
        return Limited(_seconds(value, raw))
    if key == "block":
        return Limited(_reason(value, BLOCK_REASONS, raw))
    if key == "finish":
        return Limited(_reason(value, FINISH_REASONS, raw))
    raise DirectiveError(f"unknown emulator directive {raw!r}")


def _seconds(value: str, raw: str) -> float:
    text = value.lower().removesuffix("s")
    try:
        seconds = float(text)
    except ValueError:
        raise DirectiveError(
            f"bad emulator directive {raw!r}: expected seconds such as 3s or 1.5"
        ) from None
    if seconds < 0:
        raise DirectiveError(
            f"bad emulator directive {raw!r}: seconds must not be negative"
        )
    return seconds


def _reason(value: str, allowed: frozenset[str], raw: str) -> str:
    reason = value.upper()
    if reason not in allowed:
        raise DirectiveError(
            f"bad emulator directive {raw!r}: reason must be one of {sorted(allowed)}"
        )
    return reason


def decide(
    directives: Directives,
    attempt: int,
    *,
    seed: int = 0,
    body_hash: bytes = b"",
    fault_rate: float = 0.0,
    fault_mix: tuple[str, ...] = (),
    hang_s: float = 30.0,
    default_retry_s: float = 1.0,
) -> Decision:
    """The fault for `attempt` (1-based) of a request body: its directives, else maybe a random one."""
    items = directives.items
    if not items and fault_rate <= 0.0:
        return NO_FAULT
    kw: dict[str, object] = {}
    transport = False
    for name, limited in items.items():
        if not limited.active(attempt):
            continue
        if name == "fail":
            kw["status"] = limited.value
            transport = True
        elif name == "error":
            kw["error"] = limited.value
            kw["retry_s"] = directives.retry_s
            kw["retry_none"] = directives.retry_none
            transport = True
        elif name == "hang":
            kw["hang_s"] = limited.value
            transport = True
        elif name in ("reset", "malformed", "truncated"):
            kw[name] = True
            transport = True
        elif name == "latency":
            kw["latency_s"] = limited.value
        elif name in ("block", "finish"):
            kw[name] = limited.value
        else:
            kw[name] = True
    if kw.get("status") == 429:
        kw["retry_s"] = (
            None
            if directives.retry_none
            else (
                directives.retry_s
                if directives.retry_s is not None
                else default_retry_s
            )
        )
    if not transport and fault_rate > 0.0 and fault_mix:
        kind = random_fault(seed, body_hash, attempt, fault_rate, fault_mix)
        if kind is not None:
            kw["random"] = True
            if kind.isdigit():
                kw["status"] = int(kind)
                if kind == "429":
                    kw["retry_s"] = default_retry_s
            elif kind == "hang":
                kw["hang_s"] = hang_s
            else:
                kw[kind] = True
    return Decision(**kw) if kw else NO_FAULT  # type: ignore[arg-type]


def random_fault(
    seed: int, body_hash: bytes, attempt: int, rate: float, mix: tuple[str, ...]
) -> str | None:
    """The random fault of this attempt, or None; a pure function of its arguments."""
    digest = hashlib.blake2b(
        body_hash + attempt.to_bytes(4, "big"),
        digest_size=16,
        key=seed.to_bytes(8, "big", signed=True),
    ).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u >= rate:
        return None
    return mix[int.from_bytes(digest[8:], "big") % len(mix)]
