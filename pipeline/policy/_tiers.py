"""Service tiers: how Flex is backed off when it is full, and which tier `service_tier = "auto"` sends at.

Flex is sheddable: at capacity the service answers 503 UNAVAILABLE ("The system is currently at capacity") or a
429 that names no quota, and never upgrades a request to Standard by itself (reference section 3.1). That says
nothing about our request rate, so `FlexBackoff` pauses Flex alone (every Flex attempt waits; Standard goes on)
and leaves the pacer's rate alone: the adaptive rate of `Limits` only hears about real rate limits.

`AutoTier` decides per attempt, from the throughput measured so far: Flex (half price, minutes of latency) while
the rows still pending, at the rate rows have been finishing, would be done before the deadline with a margin to
spare; Standard when they would not, or when a Flex reply could not arrive in time. As Standard rows catch the
run up, the projection improves and Flex takes over again, so the run ends near its deadline with as many rows
at Flex as it could afford. Both only decide; the engine sleeps and sends. Clocks are injected for the tests.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable

__all__ = ("MAX_FLEX_SHEDS", "AutoTier", "FlexBackoff")

Clock = Callable[[], float]

# A row refused by a full Flex this many times, with no fallback to Standard, fails with the last refusal.
MAX_FLEX_SHEDS = 30


class FlexBackoff:
    """A pause for the Flex tier as a whole, doubling with each new episode of refusals.

    An episode starts with a refusal after the last pause has run out; refusals during a pause only make their
    rows wait for it (the requests that were in flight together are refused together). A Flex reply ends the
    run of episodes. A server's retry hint is honoured as a minimum.
    """

    def __init__(
        self,
        *,
        base_s: float = 1.0,
        max_s: float = 60.0,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._episodes = 0
        self._paused_until = 0.0
        self.refusals = 0

    def on_refused(self, retry_after: float | None = None) -> float:
        """Flex refused a request: returns how long that row waits before it tries again."""
        self.refusals += 1
        now = self._clock()
        if now >= self._paused_until:
            self._episodes += 1
            pause = min(self.max_s, self.base_s * 2 ** (self._episodes - 1))
            if retry_after is not None and retry_after > pause:
                pause = retry_after
            self._paused_until = now + pause
        # A little spread so the rows that waited do not all come back in the same millisecond.
        return self._paused_until - now + self._rng.uniform(0.0, 0.1 * self.base_s)

    def on_served(self) -> None:
        """A Flex reply: the tier has room again."""
        self._episodes = 0

    def wait_s(self) -> float:
        """How long a Flex attempt must wait now (0 when the tier is not paused)."""
        return max(0.0, self._paused_until - self._clock())


class AutoTier:
    """`service_tier = "auto"`: "flex" while the run is on course to finish before `deadline`, else "standard".

    :param deadline: the moment to be done by, on `clock`'s scale (seconds).
    :param margin_s: time kept in hand before the deadline; None: a tenth of the time the run had at the start,
        at least `min_margin_s`.
    :param window_s: throughput is rows finished per second over this last stretch of the run.
    :param min_samples: rows that must finish before the throughput is believed (the first replies of a run
        arrive together, and one reply a second after the start says little about the rate).
    """

    def __init__(
        self,
        deadline: float,
        *,
        clock: Clock = time.monotonic,
        margin_s: float | None = None,
        min_margin_s: float = 5.0,
        window_s: float = 60.0,
        min_samples: int = 20,
    ) -> None:
        self._clock = clock
        self.started = clock()
        self.deadline = deadline
        self.margin_s = (
            margin_s
            if margin_s is not None
            else max(min_margin_s, 0.1 * (deadline - self.started))
        )
        self.window_s = window_s
        self.min_samples = min_samples
        self._seen = 0
        self._finished: deque[float] = deque()
        self._flex_latency_s: float | None = None
        self.chosen = {"flex": 0, "standard": 0}

    def row_finished(self, count: int = 1) -> None:
        """`count` rows got their outcome (any tier, any status)."""
        now = self._clock()
        self._seen += count
        self._finished.extend([now] * count)
        while self._finished and now - self._finished[0] > self.window_s:
            self._finished.popleft()

    def flex_replied(self, latency_s: float) -> None:
        """A Flex attempt took `latency_s`: a Flex request sent now needs about as long (the slowest lately)."""
        known = self._flex_latency_s
        # Rises at once, falls slowly: a deadline is missed by the slow replies, not the average one.
        self._flex_latency_s = (
            latency_s
            if known is None or latency_s > known
            else 0.9 * known + 0.1 * latency_s
        )

    def rows_per_s(self) -> float | None:
        """Rows finished per second over the window (since the start while the run is younger); None before
        `min_samples` rows finished."""
        now = self._clock()
        while self._finished and now - self._finished[0] > self.window_s:
            self._finished.popleft()
        if not self._finished or self._seen < self.min_samples:
            return None
        span = min(self.window_s, now - self.started)
        return len(self._finished) / span if span > 0 else None

    def projected_finish(self, pending: int) -> float | None:
        """When the `pending` rows would be done at the measured rate (None: nothing measured yet)."""
        rate = self.rows_per_s()
        if rate is None:
            return None
        return self._clock() + pending / rate

    def choose(self, pending: int | None) -> str:
        """The tier of the next attempt, given the rows not finished yet (None: not counted yet)."""
        tier = self._decide(pending)
        self.chosen[tier] += 1
        return tier

    def _decide(self, pending: int | None) -> str:
        now = self._clock()
        latest = self.deadline - self.margin_s  # when the work should be done by
        if now >= latest:
            return "standard"
        if self._flex_latency_s is not None and now + self._flex_latency_s > latest:
            return "standard"  # a Flex reply sent now would come too late
        if pending is None:
            return "flex"
        finish = self.projected_finish(pending)
        if finish is None:
            return "flex"  # nothing measured yet: Flex until the first rows say how fast this goes
        return "flex" if finish <= latest else "standard"
