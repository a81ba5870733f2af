"""The tier of each attempt: the row's `service_tier`, "auto" resolved, Flex's refusals and its fallback.

A row asks for a tier in its generation settings (the spec's, or its own). Each attempt is sent at:
- "standard" or "priority" as asked (a Priority request may be served at Standard: it is priced as served);
- "flex", unless the row has been refused by a full Flex for `flex_fallback_after_s` already: then "standard";
- "auto": what `policy.AutoTier` says from the run's throughput and deadline (then the Flex fallback applies).

A Flex refusal ("at capacity": a 503, or a 429 that names no quota) pauses the Flex tier (`policy.FlexBackoff`)
and does not count against `max_attempts` (up to `MAX_FLEX_SHEDS`); it never lowers the pacing rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import anyio

from pipeline.errors import AttemptError, RateLimited, ServerError
from pipeline.policy import MAX_FLEX_SHEDS, AutoTier, FlexBackoff
from pipeline.records import Prompt
from pipeline.spec import JobSpec

from ._progress import RunStats

__all__ = ("RowTier", "Tiers", "make_tiers")


@dataclass(slots=True)
class RowTier:
    """One row's tier history: the tier of its last attempt, and Flex's refusals of it."""

    sent: str | None = None
    first_refused: float | None = None
    refusals: int = 0
    fell_back: bool = False


class Tiers:
    """The tier decisions of one session (shared by all workers). Events are counted in `stats.tier_events`."""

    def __init__(
        self,
        *,
        stats: RunStats | None = None,
        fallback_after_s: float | None = None,
        auto: AutoTier | None = None,
        flex: FlexBackoff | None = None,
    ) -> None:
        self.stats = stats or RunStats()
        self.fallback_after_s = fallback_after_s
        self.auto = auto
        self.flex = flex or FlexBackoff()
        self._clock = time.monotonic
        self._finished = 0

    def choose(self, asked: str | None, row: RowTier) -> str:
        """The tier of the row's next attempt."""
        tier = asked or "standard"
        if tier == "auto":
            if self.auto is None:
                tier = "flex"  # a row's own "auto" in a job without a deadline: nothing to hurry for
            else:
                self._count_finished(self.auto)
                tier = self.auto.choose(self._pending())
                self.stats.tier_events[f"auto_{tier}"] += 1
        if tier == "flex" and self._fall_back(row):
            tier = "standard"
        row.sent = tier
        return tier

    def _fall_back(self, row: RowTier) -> bool:
        if row.fell_back:
            return True
        after = self.fallback_after_s
        if after is None or row.first_refused is None:
            return False
        if self._clock() - row.first_refused < after:
            return False
        row.fell_back = True
        self.stats.tier_events["flex_fallback"] += 1
        return True

    def _count_finished(self, auto: AutoTier) -> None:
        """Tell `auto` about the rows that finished since it was last asked (it measures the throughput)."""
        done = self.stats.done
        if done > self._finished:
            auto.row_finished(done - self._finished)
            self._finished = done

    def _pending(self) -> int | None:
        stats = self.stats
        if stats.total_rows is None:
            return None
        return max(0, stats.total_rows - stats.skipped - stats.done)

    @staticmethod
    def at(prompt: Prompt, tier: str) -> Prompt:
        """`prompt` asking for `tier` (the same object when it already does)."""
        if (prompt.generation.service_tier or "standard") == tier:
            return prompt  # the common case: no copy per attempt
        return replace(prompt, generation=replace(prompt.generation, service_tier=tier))

    async def before_send(self, tier: str) -> None:
        """A Flex attempt waits while the Flex tier is paused."""
        if tier != "flex":
            return
        wait = self.flex.wait_s()
        if wait > 0:
            await anyio.sleep(wait)

    def refused(self, exc: AttemptError, row: RowTier) -> bool:
        """Whether `exc` is Flex at capacity (for an attempt sent at Flex): a 503, or a 429 naming no quota."""
        if row.sent != "flex" or exc.stops_run:
            return False
        if isinstance(exc, RateLimited):
            return not exc.quota_ids
        return isinstance(exc, ServerError) and exc.http_status == 503

    def after_refusal(self, exc: AttemptError, row: RowTier) -> float | None:
        """Seconds until the row tries again, or None to give up (refused `MAX_FLEX_SHEDS` times)."""
        row.refusals += 1
        self.stats.tier_events["flex_refused"] += 1
        if row.first_refused is None:
            row.first_refused = self._clock()
        delay = self.flex.on_refused(exc.retry_after)
        if row.refusals >= MAX_FLEX_SHEDS and self.fallback_after_s is None:
            return None
        if self.fallback_after_s is not None and self._fall_back_due(row):
            return 0.0  # its next attempt goes at Standard: no need to wait for Flex
        return delay

    def _fall_back_due(self, row: RowTier) -> bool:
        assert row.first_refused is not None and self.fallback_after_s is not None
        return self._clock() - row.first_refused >= self.fallback_after_s

    def replied(self, tier: str, latency_s: float) -> None:
        if tier == "flex":
            self.flex.on_served()
            if self.auto is not None:
                self.auto.flex_replied(latency_s)


def make_tiers(spec: JobSpec, stats: RunStats, now: datetime | None = None) -> Tiers:
    """The session's tier decisions: `auto` is given the deadline as it falls for a session starting now."""
    auto = None
    deadline = spec.limits.deadline
    if deadline is not None:
        wall = now or datetime.now(UTC)
        left = (deadline.resolve(wall) - wall).total_seconds()
        auto = AutoTier(time.monotonic() + left)
    return Tiers(
        stats=stats, fallback_after_s=spec.limits.flex_fallback_after_s, auto=auto
    )
