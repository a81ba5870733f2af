"""The worker side of a shared quota: `Limits` meters fed by leases from a `PermitSource`.

`LeasedRate` stands where `AdaptiveRate` stands in a one-machine run (same methods, so the row loop does not
know the difference): it paces requests with the same GCRA slots, at the rate of its current lease, and renews
the lease when the lease runs out of time or of request permits: one round trip to the source per lease (about
a second), none per request. A 429 pauses this worker at once (when the server gave a hint), is reported to the
source with the lease's generation, and makes the next request renew, so the lowered pace applies here
immediately and to every other worker at its next renewal.
"""

from __future__ import annotations

import time

import anyio

from pipeline.errors import DailyLimitReached

from ._limits import Clock, RateState, Sleep, TokenMeter
from ._quota import LeaseUsage, PermitSource, QuotaLease


class LeasedRate:
    """A request pacer inside leases; duck-compatible with `AdaptiveRate`."""

    def __init__(
        self,
        source: PermitSource,
        holder: str,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self.source = source
        self.holder = holder
        self._clock = clock
        self._sleep = sleep
        self.lease: QuotaLease | None = None
        self._start = 0.0
        self._end = 0.0
        self._permits: int | None = None
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._sent = 0
        self._accepted = 0
        self._stale = False
        self._reports: list[tuple[int, float | None]] = []
        self._renewing = anyio.Lock()
        self.rate_limited = 0
        self.leases = 0

    @property
    def rate(self) -> float | None:
        return None if self.lease is None else self.lease.requests_per_s

    async def acquire(self) -> None:
        """Wait for this request's slot inside a lease; renews the lease as needed.

        Raises `DailyLimitReached` when the source has no request permits left for anyone.
        """
        while True:
            await self._flush_reports()
            lease = self.lease
            now = self._clock()
            if (
                lease is None
                or self._stale
                or now >= self._end
                or (self._permits is not None and self._permits <= 0)
            ):
                await self._renew(lease)
                continue
            if self._paused_until > now:
                await self._sleep(self._paused_until - now)
                continue
            if lease.requests_per_s is None:
                self._take()
                return
            slot = max(now, self._next_slot)
            if slot >= self._end:
                # The slot falls after this lease: the next lease decides when it goes.
                await self._renew(lease)
                continue
            self._next_slot = slot + 1.0 / lease.requests_per_s
            self._take()
            if slot > now:
                await self._sleep(slot - now)
            return

    async def ensure_lease(self) -> QuotaLease | None:
        """The current lease, leasing a first one if there is none yet."""
        if self.lease is None:
            await self._renew(None)
        return self.lease

    def on_accepted(self) -> None:
        self._accepted += 1

    def on_rate_limited(self, retry_after: float | None) -> None:
        self.rate_limited += 1
        if retry_after and retry_after > 0:
            self._paused_until = max(self._paused_until, self._clock() + retry_after)
        generation = self.lease.generation if self.lease is not None else 0
        self._reports.append((generation, retry_after))
        self._stale = True

    def state(self) -> RateState:
        return RateState(
            self.rate, max(0.0, self._paused_until - self._clock()), self.rate_limited
        )

    def usage(self) -> LeaseUsage:
        return LeaseUsage(requests=self._sent, accepted=self._accepted)

    async def release(self) -> None:
        """Give the share back at once (the worker is done); a later acquire leases again."""
        await self._flush_reports()
        if self.lease is not None:
            await self.source.release(self.holder, self.usage())
            self.lease = None
            self._sent = self._accepted = 0

    def _take(self) -> None:
        self._sent += 1
        if self._permits is not None:
            self._permits -= 1

    async def _flush_reports(self) -> None:
        while self._reports:
            generation, retry_after = self._reports.pop(0)
            await self.source.rate_limited(self.holder, generation, retry_after)

    async def _renew(self, seen: QuotaLease | None) -> None:
        async with self._renewing:
            if self.lease is not seen:
                return  # another request renewed it while this one waited
            used = self.usage()
            self._sent = self._accepted = 0
            self._stale = False
            lease = await self.source.lease(self.holder, used)
            self.leases += 1
            if lease.exhausted == "daily":
                self.lease = None
                raise DailyLimitReached(
                    "requests_per_day is used up across the cluster; run the job again tomorrow (or raise "
                    "the limit) to resume where it stopped"
                )
            now = self._clock()
            self._start = now + lease.pause_s
            self._paused_until = max(self._paused_until, self._start)
            self._end = self._start + lease.duration_s
            self._permits = lease.requests
            self._next_slot = max(self._next_slot, self._start)
            self.lease = lease


class LeasedTokens:
    """Tokens per minute at the current lease's share, on a local `TokenMeter` rebuilt when the share moves."""

    def __init__(self, rate: LeasedRate) -> None:
        self._rate = rate
        self._meter: TokenMeter | None = None
        self._per_minute: float | None = None

    async def acquire(self, tokens: int) -> None:
        lease = self._rate.lease or await self._rate.ensure_lease()
        share = None if lease is None else lease.tokens_per_minute
        if share is None:
            return
        if self._per_minute is None or abs(share - self._per_minute) > 0.05 * share:
            self._meter = TokenMeter(share)
            self._per_minute = share
        assert self._meter is not None
        await self._meter.acquire(tokens)
