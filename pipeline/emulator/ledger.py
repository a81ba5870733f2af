"""What the emulator received and billed, kept with dict increments so it costs little per request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .batch_ledger import BatchLedger
from .prices import TIERS, price, request_usd

__all__ = ("BodyStat", "Ledger")

TOKEN_KINDS = ("input", "output", "thinking", "image_output", "cached")
COST_PARTS = ("input", "cached_input", "output", "cache_creation", "cache_storage")


class BodyStat:
    """Requests seen with one exact body: how many, how many answered 200, by status."""

    __slots__ = ("admitted", "count", "excerpt", "ok", "statuses")

    def __init__(self, excerpt: str) -> None:
        self.count = 0
        self.admitted = (
            0  # requests past auth, validation and limits: the attempt number of faults
        )
        self.ok = 0
        self.statuses: dict[str, int] = {}
        self.excerpt = excerpt


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


class Ledger:
    """Counters for GET /_emulator/ledger; `reset()` clears them (POST /_emulator/reset)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.reset()

    def reset(self) -> None:
        self.started_at = (
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        self.t0 = time.monotonic()
        self.by_route: dict[str, dict[str, int]] = {}
        self.tokens = dict.fromkeys(TOKEN_KINDS, 0)
        self.tokens_lost = dict.fromkeys(TOKEN_KINDS, 0)
        self.bodies: dict[bytes, BodyStat] = {}
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rate_limited = 0
        self.per_window: dict[int, int] = {}
        self.uploads = 0
        self.upload_bytes = 0
        self.requests = 0
        # tokens by served tier, caches and dollars (Billing, prices.py); caches outlive a reset
        self.billing = Billing(carry=getattr(self, "billing", None))
        self.batch = BatchLedger()  # the Batch API, counted apart (batch_ledger.py)

    def enter(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def body(self, digest: bytes, excerpt: str) -> BodyStat:
        stat = self.bodies.get(digest)
        if stat is None:
            stat = self.bodies[digest] = BodyStat(excerpt[:80])
        stat.count += 1
        return stat

    def record(self, route: str, status: str, stat: BodyStat | None = None) -> None:
        """One answered request (status: the HTTP code as a string, or `reset`)."""
        self.requests += 1
        statuses = self.by_route.get(route)
        if statuses is None:
            statuses = self.by_route[route] = {}
        statuses[status] = statuses.get(status, 0) + 1
        bucket = int((time.monotonic() - self.t0) // self.window_s)
        self.per_window[bucket] = self.per_window.get(bucket, 0) + 1
        if status == "429":
            self.rate_limited += 1
        if stat is not None:
            stat.statuses[status] = stat.statuses.get(status, 0) + 1
            if status == "200":
                stat.ok += 1

    def bill(
        self,
        input_tokens: int,
        output: int,
        thinking: int,
        image_output: int = 0,
        cached: int = 0,
        *,
        lost: bool = False,
    ) -> None:
        """Book a generated reply. `lost`: it was generated (so a real service bills it) but the
        client could not use it (a malformed or truncated body): kept apart in `tokens_lost`."""
        tokens = self.tokens_lost if lost else self.tokens
        tokens["input"] += input_tokens
        tokens["output"] += output
        tokens["thinking"] += thinking
        tokens["image_output"] += image_output
        tokens["cached"] += cached

    def upload(self, size: int) -> None:
        self.uploads += 1
        self.upload_bytes += size

    def to_json(self) -> dict[str, Any]:
        """The ledger document; `per_window` is a list indexed by window since the start."""
        last = max(self.per_window, default=-1)
        return {
            "started_at": self.started_at,
            "uptime_s": round(time.monotonic() - self.t0, 3),
            "window_s": self.window_s,
            "requests": self.requests,
            "requests_by_route": {
                route: dict(sorted(s.items()))
                for route, s in sorted(self.by_route.items())
            },
            "tokens": dict(self.tokens),
            "tokens_lost": dict(self.tokens_lost),
            "requests_by_body": [
                {
                    "sha256": digest.hex(),
                    "count": stat.count,
                    "ok": stat.ok,
                    "statuses": dict(sorted(stat.statuses.items())),
                    "excerpt": stat.excerpt,
                }
                for digest, stat in self.bodies.items()
            ],
            "peak_in_flight": self.peak_in_flight,
            "in_flight": self.in_flight,
            "rate_limited": self.rate_limited,
            "per_window": [self.per_window.get(i, 0) for i in range(last + 1)],
            "uploads": {"count": self.uploads, "bytes": self.upload_bytes},
            **self.billing.to_json(),
            "batch": self.batch.to_json(),
        }
