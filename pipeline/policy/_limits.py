"""Admission limits: when may the next request go out.

Three meters, applied in turn by `Limits.admit()`:

- a request pacer (requests per minute). It is a GCRA scheduler, not a bucket with a burst: every request gets its
  own time slot `1 / rate` after the previous one, so a server that counts any rolling 60 s window never sees
  more than the limit, and there is no start-of-minute burst. Its rate is adaptive (see `AdaptiveRate`).
- a token meter (tokens per minute) on estimated input tokens, built on `aiolimiter.AsyncLimiter` with a small
  bucket (3 s worth) so that its burst plus its rate stays under the limit in any 60 s window.
- a daily request counter (requests per day), which ends the run with `DailyLimitReached` when it is used up.

Adaptive rate: on a 429 the whole pool pauses once until the server's retry hint has passed, and the pacing rate
goes down; after a quiet spell it creeps back up. Without a configured limit the first 429 sets the rate from what
the server accepted so far, `accepted / (span + retry_delay)`, which is the server's real rate when it answers
with a rolling-window `retryDelay`; so a job with no limits converges on the server's limit without a storm.

Build a `Limits` inside the running event loop (aiolimiter binds to the loop that first uses it).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import anyio
from aiolimiter import AsyncLimiter

from pipeline.errors import DailyLimitReached

from ._budget import default_holder
from ._lease import LeaseUsage, PermitSource, QuotaLease

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Pacing just under a configured limit leaves room for network jitter between our clock and the server's.
RATE_SAFETY = 0.98
TOKEN_SAFETY = 0.95
TOKEN_BURST_S = 3.0
# Replies needed before the first 429 may set the pace of an unlimited job (fewer: a stray 429, just pause).
MIN_SAMPLES = 10
FLOOR_FRACTION = 0.25


@dataclass(slots=True)
class RateState:
    """What the display shows about pacing: the current rate (None: unpaced) and whether the pool is paused."""

    requests_per_s: float | None
    paused_for_s: float
    rate_limited: int


class AdaptiveRate:
    """A GCRA request pacer whose rate follows the server's 429s (multiplicative decrease, slow increase).

    :param ceiling_per_s: the configured limit in requests per second, or None for "find it out".
    :param decrease: factor applied to the rate on each new 429 episode.
    :param increase: factor applied after `recover_after_s` without a 429.
    """

    def __init__(
        self,
        ceiling_per_s: float | None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        decrease: float = 0.8,
        increase: float = 1.1,
        recover_after_s: float = 2.0,
        min_rate_per_s: float = 0.02,
    ) -> None:
        self.ceiling = ceiling_per_s * RATE_SAFETY if ceiling_per_s else None
        self.rate: float | None = self.ceiling
        self._clock = clock
        self._sleep = sleep
        self._decrease = decrease
        self._increase = increase
        self._recover_after_s = recover_after_s
        self._min_rate = min_rate_per_s
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._episode_until = 0.0
        self._accepted_since_decrease = True
        # 429s that are not about the rate (a quota on something else, a proxy's own) must not starve the
        # run: the rate never falls below a quarter of the configured (or first learned) one.
        self._floor = max(min_rate_per_s, (self.ceiling or 0.0) * FLOOR_FRACTION)
        self._last_change = clock()
        # Replies accepted in each second of the last minute, as [second, first reply's time, count]: a few KB
        # whatever the rate. (A timestamp per reply held 100,000+ floats at zero latency and, outliving the
        # replies' buffers around them, fragmented the heap: RSS grew with the run's length.)
        self._accepted: deque[list[float]] = deque()
        self.rate_limited = 0

    async def acquire(self) -> None:
        """Wait for this request's slot: after any pause, and `1 / rate` after the previous slot."""
        while True:
            now = self._clock()
            if self._paused_until > now:
                await self._sleep(self._paused_until - now)
                continue
            if self.rate is None:
                return
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self.rate
            if slot > now:
                await self._sleep(slot - now)
                if self._paused_until > self._clock():
                    continue  # a 429 arrived while we waited: this slot is void, queue again after the pause
            return

    def on_accepted(self) -> None:
        """The server accepted a request (any reply that was not a 429)."""
        now = self._clock()
        self._accepted_since_decrease = True
        accepted = self._accepted
        second = float(int(now))
        if accepted and accepted[-1][0] == second:
            accepted[-1][2] += 1
        else:
            accepted.append([second, now, 1])
            while now - accepted[0][0] > 61.0:
                accepted.popleft()
        if self.rate is not None and now - self._last_change >= self._recover_after_s:
            raised = self.rate * self._increase
            self.rate = min(raised, self.ceiling) if self.ceiling else raised
            self._last_change = now

    def on_rate_limited(self, retry_after: float | None) -> None:
        """A 429: pause the pool once per episode and lower the rate; 429s of the same burst only extend it.

        The rate goes down at most once per congestion event: until the server has accepted a request again,
        further 429s say nothing new about the rate (a server counting a 60 s window refuses everything until
        its window slides), so they only lengthen the pause.
        """
        self.rate_limited += 1
        now = self._clock()
        # A hint says when the server admits requests again: the whole pool waits for it, once. Without a
        # hint each row backs off on its own (exponential, with jitter) and only the pace goes down: pausing
        # the pool on guesswork stalls a run whenever a 429 is about something other than the rate.
        delay = retry_after if retry_after and retry_after > 0 else 0.0
        if now < self._episode_until or not self._accepted_since_decrease:
            # The same burst, or no reply got through since the rate was last lowered.
            self._paused_until = max(self._paused_until, now + delay)
            return
        self._accepted_since_decrease = False
        self._paused_until = max(self._paused_until, now + delay)
        self._episode_until = now + max(delay, 1.0) * 1.5
        if self.rate is None:
            recent = [bucket for bucket in self._accepted if now - bucket[1] <= 60.0]
            count = sum(int(bucket[2]) for bucket in recent)
            if count < MIN_SAMPLES:
                return  # too few replies to tell the server's rate (a stray 429): just pause
            span = now - recent[0][1]
            self.rate = max(self._min_rate, count / (span + max(delay, 1.0)) * 0.95)
            self._floor = max(self._min_rate, self.rate * FLOOR_FRACTION)
        else:
            self.rate = max(self._floor, self.rate * self._decrease)
        self._last_change = now

    def state(self) -> RateState:
        return RateState(
            self.rate, max(0.0, self._paused_until - self._clock()), self.rate_limited
        )


class TokenMeter:
    """Tokens per minute on estimated input tokens, corrected when the reply reports the real count."""

    def __init__(self, tokens_per_minute: float) -> None:
        per_s = tokens_per_minute * TOKEN_SAFETY / 60.0
        self.capacity = max(1.0, tokens_per_minute * TOKEN_BURST_S / 60.0)
        self._limiter = AsyncLimiter(self.capacity, self.capacity / per_s)

    async def acquire(self, tokens: int) -> None:
        # aiolimiter refuses a weight above its bucket; a larger request waits for a full bucket instead.
        if tokens > 0:
            await self._limiter.acquire(min(float(tokens), self.capacity))


# Google resets daily quotas at midnight Pacific time, not UTC (rate-limits docs).
QUOTA_TIMEZONE = ZoneInfo("America/Los_Angeles")


def quota_day(now: datetime | None = None) -> str:
    """Today's date as Google's daily quotas count it (ISO format)."""
    return (now or datetime.now(UTC)).astimezone(QUOTA_TIMEZONE).date().isoformat()


class DailyCounter:
    """Requests per day on Google's day (midnight Pacific): counts what was sent today, carried across resumes
    by the engine, and starts again from zero when the day turns, even in the middle of a run."""

    def __init__(
        self, limit: int | None, sent_today: int = 0, day: str | None = None
    ) -> None:
        self.limit = limit
        self.sent = sent_today
        self.day = day or quota_day()
        self._checked_at = time.monotonic()

    def take(self) -> None:
        now = time.monotonic()
        if (
            now - self._checked_at >= 1.0
        ):  # the day turns rarely; asking the time zone per request cost 5 us
            self._checked_at = now
            today = quota_day()
            if today != self.day:
                self.day, self.sent = today, 0
        if self.limit is not None and self.sent >= self.limit:
            raise DailyLimitReached(
                f"requests_per_day = {self.limit} is used up for {self.day} (Google's day ends at midnight "
                "Pacific time); run the job again after that (or raise the limit) to resume where it stopped"
            )
        self.sent += 1


# -- Leased meters: the worker side of a shared quota ----------------------------------------------------
# The worker side of a shared quota: `Limits` meters fed by leases from a `PermitSource`.
#
# `LeasedRate` stands where `AdaptiveRate` stands in a one-machine run (same methods, so the row loop does not
# know the difference): it paces requests with the same GCRA slots, at the rate of its current lease, and renews
# the lease when the lease runs out of time or of request permits: one round trip to the source per lease (about
# a second), none per request. A 429 pauses this worker at once (when the server gave a hint), is reported to the
# source with the lease's generation, and makes the next request renew, so the lowered pace applies here
# immediately and to every other worker at its next renewal.


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


class Limits:
    """All admission limits of one run; `admit()` returns when a request may be sent.

    With `permits` (a `PermitSource`), the limits are shared with other workers: the pacer and the token meter
    run on leases from the source (`LeasedRate`, `LeasedTokens`) and `holder` names this worker to it. Without
    it (every one-machine run), the meters below are the whole story, exactly as before leases existed.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        requests_per_day: int | None,
        sent_today: int = 0,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        permits: PermitSource | None = None,
        holder: str = "",
    ) -> None:
        self.rate: AdaptiveRate | LeasedRate
        self.tokens: TokenMeter | LeasedTokens | None
        if permits is not None:
            # A shared quota (pipeline.policy._quota): the same meters, fed by leases. The daily limit is the
            # source's; the local counter only counts, for the journal.
            name = holder or default_holder()
            self.rate = LeasedRate(permits, name, clock=clock, sleep=sleep)
            self.tokens = LeasedTokens(self.rate) if tokens_per_minute else None
            self.daily = DailyCounter(None, sent_today)
            return
        self.rate = AdaptiveRate(
            requests_per_minute / 60.0 if requests_per_minute else None,
            clock=clock,
            sleep=sleep,
        )
        self.tokens = TokenMeter(tokens_per_minute) if tokens_per_minute else None
        self.daily = DailyCounter(requests_per_day, sent_today)

    async def admit(self, estimated_tokens: int) -> None:
        """Block until a request may go; raises `DailyLimitReached` when the daily budget of requests is spent."""
        if self.tokens is not None:
            await self.tokens.acquire(estimated_tokens)
        await self.rate.acquire()
        self.daily.take()

    async def correct_tokens(self, estimated: int, reported: int) -> None:
        """Charge the token meter for what the estimate missed, so the next requests wait for it."""
        if self.tokens is not None and reported > estimated:
            await self.tokens.acquire(reported - estimated)
