"""What the emulated traffic would cost: tokens by served tier, context caches, and US dollars.

Prices are the Gemini Developer API paid-tier list prices per 1M tokens (Standard tier), as the
reference (shared/reference/gemini-api-2026-12.md §2) transcribes them; rows with a date step
(e.g. 3.8 Flash on 2027-01-01) are chosen by the UTC date of the request. Flex and Batch are 50%
of Standard; Priority is Standard x PRIORITY_MULTIPLIER (the docs say 75-100% more; per-model
numbers are unconfirmed, 1.8x is what third-party tables show). A Priority request downgraded to
Standard is billed at Standard. Cached input is billed at the cached rate (of the served tier);
cache creation at the Standard input rate; cache storage per token-hour of actual lifetime.
Where the reference has no figure, the assumption is marked in PRICES.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

TIERS = ("standard", "flex", "priority")
TOKEN_KINDS = ("input", "output", "thinking", "image_output", "cached")
TIER_MULTIPLIER = {"standard": 1.0, "flex": 0.5, "priority": 1.8, "batch": 0.5}
PRIORITY_MULTIPLIER = TIER_MULTIPLIER["priority"]
LONG_PROMPT = (
    200_000  # rows with a "> 200k tokens" price charge the whole request at it
)
COST_PARTS = ("input", "cached_input", "output", "cache_creation", "cache_storage")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens (storage: per 1M tokens per hour). `long`: the rates above 200k prompt tokens."""

    input: float
    output: float
    cached: float
    storage: float = 0.0
    input_audio: float | None = None
    cached_audio: float | None = None
    image_output: float | None = None
    long: Price | None = None


def _row(*steps: tuple[str, Price]) -> tuple[tuple[date, Price], ...]:
    return tuple((date.fromisoformat(d), p) for d, p in steps)


_FLASH_38 = _row(
    ("2000-01-01", Price(0.75, 3.75, 0.075, 0.50)),
    ("2027-01-01", Price(1.50, 7.50, 0.15, 1.00)),
)
_ARGON = _row(
    ("2000-01-01", Price(2.00, 10.00, 0.10)),
    ("2026-12-01", Price(4.00, 20.00, 0.20)),
)
_PRO_IMAGE = _row(
    ("2000-01-01", Price(2.00, 12.00, 0.20, 4.50, image_output=120.0))
)  # cached, storage: assumed
_FLASH_IMAGE = _row(
    ("2000-01-01", Price(0.50, 3.00, 0.05, 1.00, image_output=60.0))
)  # cached, storage: assumed
_FLASH_LITE_31 = _row(
    ("2000-01-01", Price(0.25, 1.50, 0.025, 1.00, 0.50, 0.05))
)  # storage: assumed

PRICES: dict[str, tuple[tuple[date, Price], ...]] = {
    "gemini-3.1-pro-preview": _row(
        (
            "2000-01-01",
            Price(2.00, 12.00, 0.20, 4.50, long=Price(4.00, 18.00, 0.40, 4.50)),
        )
    ),
    "gemini-3-flash-preview": _row(
        ("2000-01-01", Price(0.50, 3.00, 0.05, 1.00, 1.00, 0.10))
    ),
    "gemini-3.1-flash-lite-preview": _FLASH_LITE_31,  # priced as the GA 3.1 Flash-Lite
    "gemini-3.1-flash-lite": _FLASH_LITE_31,
    "gemini-3-pro-image-preview": _PRO_IMAGE,
    "gemini-3-pro-image": _PRO_IMAGE,
    "gemini-3.1-flash-image-preview": _FLASH_IMAGE,
    "gemini-3.1-flash-image": _FLASH_IMAGE,
    "gemini-nano-banana-2.1": _row(
        ("2000-01-01", Price(1.50, 7.50, 0.15, 1.00, image_output=30.0))
    ),  # 3P
    "gemini-3.8-flash": _FLASH_38,
    "gemini-3.7-flash": _FLASH_38,
    "gemini-3.6-flash": _FLASH_38,  # cached and storage of 3.7/3.6: as 3.8 (unconfirmed)
    "gemini-3.5-flash": _row(("2000-01-01", Price(1.50, 9.00, 0.15, 1.00))),
    "gemini-3.5-flash-lite": _row(
        ("2000-01-01", Price(0.30, 2.50, 0.03, 1.00))
    ),  # cached, storage: assumed
    "gemini-2.5-pro": _row(
        (
            "2000-01-01",
            Price(1.25, 10.00, 0.125, 4.50, long=Price(2.50, 15.00, 0.25, 4.50)),
        )
    ),
    "gemini-2.5-flash": _row(("2000-01-01", Price(0.30, 2.50, 0.03, 1.00, 1.00, 0.10))),
    "gemini-2.5-flash-lite": _row(
        ("2000-01-01", Price(0.10, 0.40, 0.01, 1.00, 0.30, 0.03))
    ),
    "gemini-4-argon": _ARGON,
    "gemini-4-carbon": _ARGON,  # 3P
    "gemini-4-hydrogen": _row(("2000-01-01", Price(1.50, 7.50, 0.075))),  # 3P
    "gemini-4-neon": _row(
        ("2000-01-01", Price(3.00, 15.00, 0.30))
    ),  # 3P; cached: assumed
}


_TODAY: dict[tuple[str, int], Price | None] = {}  # (model, UTC day number) -> row


def price(model: str, day: date | None = None) -> Price | None:
    """The Standard price row of `model` in force on `day` (today, UTC, by default)."""
    if day is None:
        key = (model, int(time.time() // 86400))
        try:
            return _TODAY[key]
        except KeyError:
            if len(_TODAY) > 4096:
                _TODAY.clear()
            found = _TODAY[key] = price(model, datetime.now(UTC).date())
            return found
    steps = PRICES.get(model)
    if steps is None:
        return None
    chosen = steps[0][1]
    for start, row in steps:
        if start <= day:
            chosen = row
    return chosen


def _by_modality(
    details: dict[str, int], rate: float, audio_rate: float | None
) -> float:
    if audio_rate is None or "AUDIO" not in details:
        return sum(details.values()) * rate
    return sum(
        count * (audio_rate if m == "AUDIO" else rate) for m, count in details.items()
    )


def request_usd(
    model: str,
    tier: str,
    prompt_details: dict[str, int],
    cache_details: dict[str, int],
    output_tokens: int,
    image_tokens: int,
) -> tuple[float, float, float] | None:
    """USD of one reply: (fresh input, cached input, output), or None for an unpriced model.

    `output_tokens`: text and thinking; `image_tokens`: at the image rate where the row has one."""
    row = price(model)
    if row is None:
        return None
    if row.long is not None and sum(prompt_details.values()) > LONG_PROMPT:
        row = row.long
    scale = TIER_MULTIPLIER.get(tier, 1.0) / 1e6
    image_rate = row.image_output if row.image_output is not None else row.output
    output = (output_tokens * row.output + image_tokens * image_rate) * scale
    if not cache_details:
        return (
            _by_modality(prompt_details, row.input, row.input_audio) * scale,
            0.0,
            output,
        )
    fresh = {m: max(0, c - cache_details.get(m, 0)) for m, c in prompt_details.items()}
    return (
        _by_modality(fresh, row.input, row.input_audio) * scale,
        _by_modality(cache_details, row.cached, row.cached_audio) * scale,
        output,
    )


def request_cost(
    model: str,
    tier: str,
    prompt_details: dict[str, int],
    cache_details: dict[str, int],
    output_tokens: int,
    image_tokens: int,
) -> dict[str, float] | None:
    """`request_usd` by name: {"input", "cached_input", "output"}."""
    usd = request_usd(
        model, tier, prompt_details, cache_details, output_tokens, image_tokens
    )
    return (
        None
        if usd is None
        else dict(zip(("input", "cached_input", "output"), usd, strict=True))
    )


@dataclass(slots=True)
class _Stored:
    model: str
    tokens: int
    since: float  # epoch seconds from which storage is counted (creation, or the last ledger reset)
    expire: float


class Billing:
    """Tokens by served tier, tier events, cache counters and dollars; part of the ledger."""

    def __init__(self, carry: Billing | None = None) -> None:
        self.tokens_by_tier = {t: dict.fromkeys(TOKEN_KINDS, 0) for t in TIERS}
        self.requested = dict.fromkeys(TIERS, 0)
        self.served = dict.fromkeys(TIERS, 0)
        self.flex_shed = 0
        self.flex_deadline_exceeded = 0
        self.priority_downgraded = 0
        self.cost = dict.fromkeys(COST_PARTS, 0.0)
        self.cost_by_tier = dict.fromkeys(TIERS, 0.0)
        self.unpriced: set[str] = set()
        self.caches_created = 0
        self.caches_deleted = 0
        self.caches_expired = 0
        self.creation_tokens = 0
        self.cached_input_tokens = 0
        self.implicit_cached_tokens = 0
        self.storage_token_hours = 0.0  # of caches that ended
        self.alive: dict[str, _Stored] = {}
        if (
            carry is not None
        ):  # caches outlive a ledger reset; their storage restarts from now
            now = time.time()
            self.alive = {
                name: _Stored(s.model, s.tokens, now, s.expire)
                for name, s in carry.alive.items()
                if s.expire > now
            }

    # -- generate replies -------------------------------------------------------------------------

    def tier_requested(self, tier: str) -> None:
        self.requested[tier] = self.requested.get(tier, 0) + 1

    def charge(
        self,
        model: str,
        tier: str,
        prompt_details: dict[str, int],
        cache_details: dict[str, int],
        output: int,
        thinking: int,
        image_output: int,
        *,
        implicit: bool = False,
        lost: bool = False,
    ) -> None:
        """Book one generated reply served at `tier` (`lost`: billed, but the client got no usable body)."""
        cached = sum(cache_details.values())
        if not lost:
            kinds = self.tokens_by_tier.get(tier)
            if kinds is None:
                kinds = self.tokens_by_tier[tier] = dict.fromkeys(TOKEN_KINDS, 0)
            kinds["input"] += sum(prompt_details.values())
            kinds["output"] += output
            kinds["thinking"] += thinking
            kinds["image_output"] += image_output
            kinds["cached"] += cached
            self.served[tier] = self.served.get(tier, 0) + 1
            if implicit:
                self.implicit_cached_tokens += cached
            else:
                self.cached_input_tokens += cached
        usd = request_usd(
            model, tier, prompt_details, cache_details, output + thinking, image_output
        )
        if usd is None:
            self.unpriced.add(model)
            return
        cost = self.cost
        cost["input"] += usd[0]
        cost["cached_input"] += usd[1]
        cost["output"] += usd[2]
        self.cost_by_tier[tier] = self.cost_by_tier.get(tier, 0.0) + sum(usd)

    # -- explicit caches --------------------------------------------------------------------------

    def cache_created(
        self, name: str, model: str, tokens: int, now: float, expire: float
    ) -> None:
        self.caches_created += 1
        self.creation_tokens += tokens
        row = price(model)
        if row is None:
            self.unpriced.add(model)
        else:
            self.cost["cache_creation"] += tokens * row.input / 1e6
        self.alive[name] = _Stored(model, tokens, now, expire)

    def cache_updated(self, name: str, expire: float) -> None:
        stored = self.alive.get(name)
        if stored is not None:
            stored.expire = expire

    def cache_ended(self, name: str, now: float, *, expired: bool) -> None:
        """A cache deleted (at `now`) or found expired (storage ends at its expireTime)."""
        stored = self.alive.pop(name, None)
        if stored is None:
            return
        if expired:
            self.caches_expired += 1
        else:
            self.caches_deleted += 1
        hours = self._hours(stored, now)
        self.storage_token_hours += hours
        self.cost["cache_storage"] += self._storage_usd(stored, hours)

    @staticmethod
    def _hours(stored: _Stored, now: float) -> float:
        return stored.tokens * max(0.0, min(now, stored.expire) - stored.since) / 3600.0

    def _storage_usd(self, stored: _Stored, token_hours: float) -> float:
        row = price(stored.model)
        if row is None:
            self.unpriced.add(stored.model)
            return 0.0
        return token_hours * row.storage / 1e6

    # -- the ledger document ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        now = time.time()
        live_hours = 0.0
        live_usd = 0.0
        alive = 0
        for stored in self.alive.values():
            hours = self._hours(stored, now)
            live_hours += hours
            live_usd += self._storage_usd(stored, hours)
            alive += stored.expire > now
        expired = self.caches_expired + len(self.alive) - alive
        cost = dict(self.cost)
        cost["cache_storage"] += live_usd
        total = sum(cost.values())
        by_tier = dict(self.cost_by_tier)
        return {
            "tokens_by_tier": {t: dict(k) for t, k in self.tokens_by_tier.items()},
            "tiers": {
                "requested": dict(self.requested),
                "served": dict(self.served),
                "flex_shed": self.flex_shed,
                "flex_deadline_exceeded": self.flex_deadline_exceeded,
                "priority_downgraded": self.priority_downgraded,
            },
            "caches": {
                "created": self.caches_created,
                "deleted": self.caches_deleted,
                "expired": expired,
                "alive": alive,
                "creation_tokens": self.creation_tokens,
                "storage_token_hours": round(self.storage_token_hours + live_hours, 6),
                "cached_input_tokens": self.cached_input_tokens,
                "implicit_cached_tokens": self.implicit_cached_tokens,
            },
            "cost_usd": round(total, 9),
            "cost_usd_detail": {
                **{part: round(usd, 9) for part, usd in cost.items()},
                "by_tier": {t: round(usd, 9) for t, usd in by_tier.items()},
                "unpriced_models": sorted(self.unpriced),
            },
        }
