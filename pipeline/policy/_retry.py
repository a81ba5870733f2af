"""When to try a failed request again, and after how long.

The policy only decides; the engine sleeps. Backoff is exponential with full jitter (AWS architecture blog,
"Exponential Backoff And Jitter"), which spreads a pool's retries out instead of sending them in waves, and it
is never shorter than what the server asked for: a 429 with `RetryInfo.retryDelay` or `Retry-After` waits at
least that long, plus a little jitter so the whole pool does not come back in the same millisecond.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipeline.errors import AttemptError, RateLimited

_RANDOM = random.Random()  # jitter needs no seed; tests pass their own generator


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """`retry` is False when the row should end now; `delay_s` is how long to wait before the next attempt."""

    retry: bool
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by `max_attempts` (first try included).

    :param max_attempts: requests per row at most, the first one included.
    :param base_delay_s: the cap of the first backoff; it doubles with every attempt.
    :param max_delay_s: the largest backoff we pick ourselves (a server's hint may be longer).
    """

    max_attempts: int
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0

    def decide(
        self, error: AttemptError, attempt: int, rng: random.Random | None = None
    ) -> RetryDecision:
        """Decide after attempt number `attempt` (1-based) failed with `error`."""
        if not error.retryable or attempt >= self.max_attempts:
            return RetryDecision(retry=False)
        rng = rng or _RANDOM
        cap = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        delay = rng.uniform(0.0, cap)
        hint = error.retry_after
        if hint is not None and hint > 0:
            # Never sooner than the server said; a 10% spread keeps the pool from stampeding back at once.
            delay = max(delay, hint + rng.uniform(0.0, 0.1 * hint + 0.05))
        elif isinstance(error, RateLimited):
            # A 429 without a hint still means "slow down": wait at least the base delay.
            delay = max(delay, self.base_delay_s)
        return RetryDecision(retry=True, delay_s=delay)
