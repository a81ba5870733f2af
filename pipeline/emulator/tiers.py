"""Service tiers: the tier a request asks for, the tier it is served at, and what Flex and Priority do.

How the real APIs take the tier:
- Gemini API: top-level `serviceTier` (python-genai) or `service_tier` (the REST docs) in the
  generateContent body, `flex` / `standard` / `priority` (`unspecified` = standard), in any case and
  also as `SERVICE_TIER_FLEX` and the like. The served tier comes back in `usageMetadata.serviceTier`
  and in the `x-gemini-service-tier` response header.
- Vertex: the header `X-Vertex-AI-LLM-Shared-Request-Type: flex | priority` (with or without
  `X-Vertex-AI-LLM-Request-Type: shared`); the served tier is `usageMetadata.trafficType`
  (`ON_DEMAND`, `ON_DEMAND_FLEX`, `ON_DEMAND_PRIORITY`). A body `serviceTier` is accepted and ignored.
- OpenAI-compatible: `service_tier` in the chat body (`flex`, `priority`; `default`, `auto` and
  `standard` mean standard).

Flex waits a seeded queueing delay, holds one of `flex_capacity` slots (at capacity: 503
UNAVAILABLE, or 429 with `flex_shed_status=429`) and honours `X-Server-Timeout` (504
DEADLINE_EXCEEDED when the wait would pass it). Priority is served at priority up to the allowance
per (key, model) and window, then silently at standard.
"""

from __future__ import annotations

import contextvars
import hashlib
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .apierror import ApiError, bad_value, fault
from .config import EmulatorConfig

STANDARD = "standard"
TIERS = (STANDARD, "flex", "priority")
HEADER = TIER_HEADER = "x-gemini-service-tier"
VERTEX_SHARED_HEADER = "X-Vertex-AI-LLM-Shared-Request-Type"
VERTEX_REQUEST_HEADER = "X-Vertex-AI-LLM-Request-Type"
TIMEOUT_HEADER = "X-Server-Timeout"
TRAFFIC_TYPES = {
    "standard": "ON_DEMAND",
    "flex": "ON_DEMAND_FLEX",
    "priority": "ON_DEMAND_PRIORITY",
}
OPENAI_NAMES = {"standard": "default", "flex": "flex", "priority": "priority"}
AT_CAPACITY_503 = "The system is currently at capacity."
AT_CAPACITY_429 = "Resource has been exhausted (e.g. check quota)."
PRIORITY_SHARE = 0.3  # the Priority limit defaults to 0.3x the standard limit
SERVICE_TIER_TYPE = (
    "type.googleapis.com/google.ai.generativelanguage.v1beta.ServiceTier"
)

_GEMINI_VALUES = {
    "unspecified": "standard",
    "standard": "standard",
    "flex": "flex",
    "priority": "priority",
}
_OPENAI_VALUES = {
    "auto": "standard",
    "default": "standard",
    "standard": "standard",
    "flex": "flex",
    "priority": "priority",
}
_REQUEST_KEY = web.RequestKey("emulator_served_tier", str)
_SERVED: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "emulator_served_tier", default=None
)


def _gemini_value(value: Any) -> str:
    if isinstance(value, str):
        name = value.lower().removeprefix("service_tier_")
        if name in _GEMINI_VALUES:
            return _GEMINI_VALUES[name]
    raise bad_value("service_tier", SERVICE_TIER_TYPE, value)


def requested_tier(
    body: Any, headers: Mapping[str, str], flavour: str = "gemini"
) -> str:
    """The tier the request asks for (`standard` when it asks for none); a 400 for a bad value."""
    if flavour == "vertex":
        shared = (headers.get(VERTEX_SHARED_HEADER) or "").strip().lower()
        return shared if shared in ("flex", "priority") else "standard"
    if not isinstance(body, dict):
        return "standard"
    if flavour in ("openai", "google-openai"):
        value = body.get("service_tier")
        if value is None:
            return "standard"
        if isinstance(value, str) and value.lower() in _OPENAI_VALUES:
            return _OPENAI_VALUES[value.lower()]
        raise ApiError(
            400,
            f"Invalid value for service_tier: {value!r}. Supported values are: 'flex', "
            "'priority', 'standard', 'default' and 'auto'.",
            param="service_tier",
        )
    value = body.get("serviceTier", body.get("service_tier"))
    return "standard" if value is None else _gemini_value(value)


def served_tier(request_body: Any, headers: Mapping[str, str]) -> str:
    """The tier this request is served at: the decision taken for the request being handled (Flex,
    or Priority after a possible downgrade), else the tier the body or headers ask for."""
    served = _SERVED.get()
    if served is not None:
        return served
    flavour = "vertex" if headers.get(VERTEX_SHARED_HEADER) else "gemini"
    if (
        isinstance(request_body, dict)
        and str(request_body.get("service_tier", "")).lower() in _OPENAI_VALUES
    ):
        flavour = "openai"
    try:
        return requested_tier(request_body, headers, flavour)
    except ApiError:
        return "standard"


def traffic_type(tier: str) -> str:
    """Vertex's `usageMetadata.trafficType` for a served tier."""
    return TRAFFIC_TYPES.get(tier, "ON_DEMAND")


def server_timeout(headers: Mapping[str, str]) -> float | None:
    """`X-Server-Timeout` in seconds, or None when absent or not a positive number."""
    raw = headers.get(TIMEOUT_HEADER)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value > 0 else None


def deadline_exceeded() -> ApiError:
    return fault(504)


def at_capacity(status: int) -> ApiError:
    """What a full Flex pool answers: 503 UNAVAILABLE, or 429 RESOURCE_EXHAUSTED."""
    if status == 429:
        return ApiError(429, AT_CAPACITY_429, openai_code="rate_limit_exceeded")
    return ApiError(503, AT_CAPACITY_503)


async def add_tier_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the served tier as `x-gemini-service-tier` (Gemini and OpenAI routes)."""
    tier = request.get(_REQUEST_KEY)
    if tier:
        response.headers[HEADER] = tier


# -- directives -----------------------------------------------------------------------------------

_BLOCK = re.compile(r"\[\[emu:([^\]]*)\]\]")
_SHED = re.compile(r"^shed(?:x(\d+))?$")


class TierDirectiveError(ValueError):
    """A tier directive that does not parse (the caller answers 400)."""


@dataclass(frozen=True, slots=True)
class TierDirectives:
    """`flex_latency=S`: the Flex wait of this request; `shed[xN]`: a Flex request is shed."""

    flex_latency_s: float | None = None
    shed: bool = False
    shed_times: int | None = None

    def shed_now(self, attempt: int) -> bool:
        return self.shed and (self.shed_times is None or attempt <= self.shed_times)


NO_TIER_DIRECTIVES = TierDirectives()


def split_directives(text: str) -> tuple[str, TierDirectives]:
    """Take the tier items out of the `[[emu:...]]` blocks; the rest is left for faults.parse."""
    if "[[emu:" not in text:
        return text, NO_TIER_DIRECTIVES
    found: dict[str, Any] = {}

    def keep_others(match: re.Match[str]) -> str:
        rest = []
        for raw in match.group(1).split(","):
            item = raw.strip()
            key, _, value = item.partition("=")
            key = key.strip().lower()
            if key == "flex_latency":
                try:
                    seconds = float(value.strip().lower().removesuffix("s"))
                except ValueError:
                    raise TierDirectiveError(
                        f"bad emulator directive {item!r}: expected seconds such as 3s or 1.5"
                    ) from None
                if seconds < 0:
                    raise TierDirectiveError(
                        f"bad emulator directive {item!r}: seconds must not be negative"
                    )
                found["flex_latency_s"] = seconds
                continue
            shed = _SHED.match(key) if not value else None
            if shed is not None:
                found["shed"] = True
                found["shed_times"] = int(shed.group(1)) if shed.group(1) else None
                continue
            rest.append(raw)
        return "[[emu:" + ",".join(rest) + "]]"

    stripped = _BLOCK.sub(keep_others, text)
    if not found:
        return text, NO_TIER_DIRECTIVES
    return stripped, TierDirectives(**found)


# -- per-emulator state ----------------------------------------------------------------------------


class TierState:
    """Flex slots in use and the Priority allowance windows of one emulator."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.flex_in_flight = 0
        self.flex_peak = 0
        self._priority: dict[tuple[str, str], deque[float]] = {}
        allowance = config.priority_allowance_rpm
        if allowance is None and config.rpm is not None:
            allowance = max(1, int(PRIORITY_SHARE * config.rpm))
        self.priority_allowance = allowance

    def admit(
        self,
        asked: str,
        key: str,
        model: str,
        directives: TierDirectives,
        attempt: int,
        now: float | None = None,
    ) -> str:
        """The tier a request is served at; takes a Flex slot (release it with `leave_flex`)."""
        if asked == "flex":
            capacity = self.config.flex_capacity
            if directives.shed_now(attempt) or (
                capacity is not None and self.flex_in_flight >= capacity
            ):
                raise at_capacity(self.config.flex_shed_status)
            self.flex_in_flight += 1
            self.flex_peak = max(self.flex_peak, self.flex_in_flight)
            return "flex"
        if asked == "priority":
            return "priority" if self._priority_fits(key, model, now) else "standard"
        return "standard"

    def leave_flex(self) -> None:
        self.flex_in_flight -= 1

    def _priority_fits(self, key: str, model: str, now: float | None) -> bool:
        allowance = self.priority_allowance
        if allowance is None:
            return True
        now = time.monotonic() if now is None else now
        window = self._priority.setdefault((key, model), deque())
        while window and window[0] <= now - self.config.window_s:
            window.popleft()
        if len(window) >= allowance:
            return False
        window.append(now)
        return True

    def flex_wait(self, digest: bytes, attempt: int) -> float:
        """The seeded Flex queueing delay: uniform in mean x [1 - jitter, 1 + jitter]."""
        mean = self.config.flex_latency_s
        jitter = self.config.flex_jitter
        if mean <= 0:
            return 0.0
        mixed = hashlib.blake2b(
            digest + attempt.to_bytes(4, "big") + b"flex",
            digest_size=8,
            key=self.config.seed.to_bytes(8, "big", signed=True),
        ).digest()
        u = int.from_bytes(mixed, "big") / 2**64
        return mean * (1.0 - jitter + 2.0 * jitter * u)


def mark_served(
    request: web.Request, tier: str, flavour: str
) -> contextvars.Token[str | None]:
    """Remember the served tier for the reply header and `served_tier`; reset the token after."""
    if flavour != "vertex":
        request[_REQUEST_KEY] = tier
    return _SERVED.set(tier)


def unmark(token: contextvars.Token[str | None]) -> None:
    _SERVED.reset(token)
