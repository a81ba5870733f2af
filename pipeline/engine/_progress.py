"""Live counters of a run, updated by the workers and read by the progress display and the summary.

Plain attribute updates on one event loop need no locks; the display polls `snapshot()` a few times a second,
so the per-row cost is a handful of integer additions.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from pipeline.records import Outcome, Usage


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the display shows at one moment."""

    elapsed_s: float
    total_rows: int | None
    skipped: int
    done: int
    by_status: dict[str, int]
    in_flight: int
    requests_sent: int
    requests_per_s: float
    tokens: int
    cost_usd: float
    eta_s: float | None
    pacing_per_s: float | None
    paused_for_s: float
    rate_limited: int
    stopping: str | None
    batch: str | None = None


@dataclass(slots=True)
class RunStats:
    """Counters for one session of a run. `skipped` rows already had a final outcome from an earlier session."""

    started: float = field(default_factory=time.monotonic)
    total_rows: int | None = None
    skipped: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    requests_sent: int = 0
    first_request_at: float | None = None
    retries_by_cause: Counter[str] = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    unpriced_rows: int = 0
    stopping: str | None = None
    pacing_per_s: float | None = None
    paused_for_s: float = 0.0
    rate_limited: int = 0
    # Tier decisions and Flex's refusals: flex_refused, flex_fallback, auto_flex, auto_standard (engine._tiers)
    tier_events: Counter[str] = field(default_factory=Counter)
    # Batch mode: what the batch jobs are doing, from their own counts (one line, set by `pipeline.modes.batch`).
    batch: str | None = None
    _window: list[tuple[float, int]] = field(default_factory=list)

    def request_sent(self) -> None:
        self.requests_sent += 1
        if self.first_request_at is None:
            self.first_request_at = time.monotonic()

    def row_done(self, outcome: Outcome) -> None:
        self.by_status[outcome.status] += 1
        self.usage = self.usage + outcome.usage
        if outcome.cost_usd is not None:
            self.cost_usd += outcome.cost_usd
        elif outcome.status not in ("invalid",) and outcome.attempts:
            self.unpriced_rows += 1

    @property
    def done(self) -> int:
        return sum(self.by_status.values())

    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        elapsed = now - self.started
        # Requests per second over the last ~10 s, from samples taken at each snapshot.
        self._window.append((now, self.requests_sent))
        while len(self._window) > 2 and now - self._window[0][0] > 10.0:
            self._window.pop(0)
        t0, n0 = self._window[0]
        rate = (self.requests_sent - n0) / (now - t0) if now - t0 > 0.2 else 0.0
        done = self.done
        eta = None
        if self.total_rows is not None and done > 0 and elapsed > 0:
            remaining = max(0, self.total_rows - self.skipped - done)
            eta = remaining / (done / elapsed)
        return Snapshot(
            elapsed_s=elapsed,
            total_rows=self.total_rows,
            skipped=self.skipped,
            done=done,
            by_status=dict(self.by_status),
            in_flight=self.in_flight,
            requests_sent=self.requests_sent,
            requests_per_s=rate,
            tokens=self.usage.total_tokens,
            cost_usd=self.cost_usd,
            eta_s=eta,
            pacing_per_s=self.pacing_per_s,
            paused_for_s=self.paused_for_s,
            rate_limited=self.rate_limited,
            stopping=self.stopping,
            batch=self.batch,
        )
