"""One quota for many processes: the lease protocol, the ledger that serves it, and an in-process source.

A run on one machine paces each request itself (`Limits`: a GCRA pacer, a token meter, a daily counter). Many
workers sharing one API key and one limit cannot each do that: they would each take the whole limit. So the
limit lives in one place, a `PermitSource`, and every worker *leases* a share of it for about a second at a
time, then paces locally inside its lease, with no round trip per request:

- `QuotaLease`: a pace (requests per second), a token rate, a number of request permits (the daily limit), how
  long it holds, a pause to observe first (a pool-wide 429 pause) and the adaptive state's `generation`.
- the ledger gives each live holder a fair share of the rate, never more than what the leases still running
  leave free, so the sum of the paces is never above the limit; a lease not renewed within its duration plus a
  grace period belongs to a dead worker: it expires, its share is free again and its unused request permits are
  counted as spent (so a dead worker can never make the daily count too low).
- a 429 seen by any worker is reported with the generation of the lease it was sent under: the first report of a
  generation lowers the shared pace once (and opens a new generation); reports from older leases only extend the
  pause. So eight workers that hit the same wall lower the pace once, not eight times.

`QuotaLedger` is the logic, synchronous and clock-injected; `LocalPermits` serves it in-process (tests, and
several engines in one process); `pipeline.modes.cluster` serves it from a named Ray actor. Another backend (Redis)
needs only the three methods of `PermitSource`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ._lease import BudgetGrant, LeaseUsage, QuotaLease
from ._limits import FLOOR_FRACTION, MIN_SAMPLES, RATE_SAFETY

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class QuotaConfig:
    """The shared limits (as in `[limits]`) and what earlier sessions already used today."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    requests_per_day: int | None = None
    budget_usd: float | None = None
    sent_today: int = 0
    spent_usd: float = 0.0  # what earlier sessions spent (the budget is across sessions, as on one machine)
    lease_s: float = 1.0
    grace_s: float = 0.5
    decrease: float = 0.8
    increase: float = 1.1
    recover_after_s: float = 2.0


@dataclass(slots=True)
class _Held:
    expires_at: float
    rate: float
    requests: int
    usd: float = 0.0  # budget allowance held


class QuotaLedger:
    """The shared quota state; every method is called with the source's lock held (or from one thread)."""

    def __init__(self, config: QuotaConfig, *, clock: Clock = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        rpm = config.requests_per_minute
        self.ceiling: float | None = rpm / 60.0 * RATE_SAFETY if rpm else None
        self.rate: float | None = self.ceiling
        self.floor = (self.ceiling or 0.0) * FLOOR_FRACTION
        self.generation = 0
        self.paused_until = 0.0
        self.episode_until = 0.0
        self.last_change = clock()
        self.sent_today = config.sent_today
        self.spent_usd = config.spent_usd
        self.rate_limited = 0
        self.accepted_total = 0
        self.leases_granted = 0
        self.holders: dict[str, _Held] = {}
        self._accepted: deque[tuple[float, int]] = deque()
        self._accepted_since_decrease = True

    def lease(self, holder: str, used: LeaseUsage) -> QuotaLease:
        now = self._clock()
        allowance = self._settle(holder, used, now)
        self._expire(now)
        config = self.config
        others = list(self.holders.values())
        share = len(others) + 1
        pause = max(0.0, self.paused_until - now)
        earliest_end = min((held.expires_at for held in others), default=now) - now
        rate = None
        if self.rate is not None:
            fair = self.rate / share
            free = self.rate - sum(held.rate for held in others)
            rate = min(fair, free)
            if rate < fair * 0.5:
                # The running leases hold the rate: start when the first of them ends, with a fair share.
                pause = max(pause, earliest_end)
                rate = fair
        tokens = config.tokens_per_minute / share if config.tokens_per_minute else None
        requests = None
        exhausted = None
        if config.requests_per_day is not None:
            outstanding = sum(held.requests for held in others)
            left = config.requests_per_day - self.sent_today - outstanding
            if left <= 0:
                if not others:
                    exhausted = "daily"
                pause = max(pause, earliest_end)
                requests = 0
            else:
                wanted = math.ceil(rate * config.lease_s * 1.5) + 1 if rate else 1_000
                requests = min(left, wanted)
        self.holders[holder] = _Held(
            now + pause + config.lease_s + config.grace_s,
            rate or 0.0,
            requests or 0,
            allowance,
        )
        self.leases_granted += 1
        return QuotaLease(
            requests_per_s=rate,
            tokens_per_minute=tokens,
            requests=requests,
            duration_s=config.lease_s,
            pause_s=pause,
            generation=self.generation,
            exhausted=exhausted,
        )

    def release(self, holder: str, used: LeaseUsage) -> None:
        # Its allowance counts as spent: what it paid since its last budget() call is not booked yet.
        self.spent_usd += self._settle(holder, used, self._clock())

    def budget(self, holder: str, spent_usd: float, want_usd: float) -> BudgetGrant:
        """See `PermitSource.budget`. Spend plus every allowance held never passes `budget_usd`."""
        now = self._clock()
        self._expire(now)
        self.spent_usd += spent_usd
        held = self.holders.get(holder)
        if (
            held is None
        ):  # no lease yet: hold the allowance as long as a lease would be held
            held = self.holders[holder] = _Held(
                now + self.config.lease_s + self.config.grace_s, 0.0, 0
            )
        limit = self.config.budget_usd
        if limit is None:
            return BudgetGrant(float("inf"))
        others = sum(h.usd for name, h in self.holders.items() if name != holder)
        free = max(0.0, limit - self.spent_usd - others)
        held.usd = min(want_usd, free)
        return BudgetGrant(held.usd, exhausted=held.usd < want_usd and others == 0)

    def on_rate_limited(
        self, holder: str, generation: int, retry_after: float | None
    ) -> None:
        now = self._clock()
        self.rate_limited += 1
        delay = retry_after if retry_after and retry_after > 0 else 0.0
        self.paused_until = max(self.paused_until, now + delay)
        if (
            generation != self.generation
            or now < self.episode_until
            or not self._accepted_since_decrease
        ):
            return  # this event already lowered the pace
        self._accepted_since_decrease = False
        self.episode_until = now + max(delay, 1.0) * 1.5
        self.generation += 1
        if self.rate is None:
            recent = [(t, n) for t, n in self._accepted if now - t <= 60.0]
            count = sum(n for _, n in recent)
            if count < MIN_SAMPLES:
                return
            span = now - recent[0][0]
            self.rate = max(0.02, count / (span + max(delay, 1.0)) * 0.95)
            self.floor = self.rate * FLOOR_FRACTION
        else:
            self.rate = max(self.floor, self.rate * self.config.decrease)
        self.last_change = now

    def _settle(self, holder: str, used: LeaseUsage, now: float) -> float:
        """Book the holder's previous lease; returns the budget allowance it still holds."""
        previous = self.holders.pop(holder, None)
        if previous is not None:  # else it expired, and was counted as fully used then
            self.sent_today += used.requests
        if used.accepted:
            self.accepted_total += used.accepted
            self._accepted_since_decrease = True
            self._accepted.append((now, used.accepted))
            while self._accepted and now - self._accepted[0][0] > 61.0:
                self._accepted.popleft()
            if (
                self.rate is not None
                and now - self.last_change >= self.config.recover_after_s
            ):
                raised = self.rate * self.config.increase
                self.rate = min(raised, self.ceiling) if self.ceiling else raised
                self.last_change = now
        return previous.usd if previous is not None else 0.0

    def _expire(self, now: float) -> None:
        for name, held in list(self.holders.items()):
            if held.expires_at < now:
                # A holder that never came back: assume it used every permit it had.
                del self.holders[name]
                self.sent_today += held.requests
                self.spent_usd += (
                    held.usd
                )  # it may have spent all of it: never count it as free

    def snapshot(self) -> dict[str, object]:
        return {
            "requests_per_s": self.rate,
            "generation": self.generation,
            "holders": len(self.holders),
            "sent_today": self.sent_today,
            "rate_limited": self.rate_limited,
            "leases_granted": self.leases_granted,
            "spent_usd": round(self.spent_usd, 6),
        }


class LocalPermits:
    """A `PermitSource` served in this process (one event loop): the ledger behind no network."""

    def __init__(self, config: QuotaConfig, *, clock: Clock = time.monotonic) -> None:
        self.ledger = QuotaLedger(config, clock=clock)

    async def lease(self, holder: str, used: LeaseUsage) -> QuotaLease:
        return self.ledger.lease(holder, used)

    async def rate_limited(
        self, holder: str, generation: int, retry_after: float | None
    ) -> None:
        self.ledger.on_rate_limited(holder, generation, retry_after)

    async def release(self, holder: str, used: LeaseUsage) -> None:
        self.ledger.release(holder, used)

    async def budget(
        self, holder: str, spent_usd: float, want_usd: float
    ) -> BudgetGrant:
        return self.ledger.budget(holder, spent_usd, want_usd)
