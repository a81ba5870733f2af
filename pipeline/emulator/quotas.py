"""Server-side limits per (key, model): requests per minute, input tokens per minute, requests per day.

rpm and tpm are rolling windows; rpd is the service's calendar day, which resets at midnight
America/Los_Angeles (or a rolling window when one is configured, for tests). A request is admitted
when what each window already holds plus the request fits under the limit. Only admitted requests
are counted: a request refused with 429 uses no quota (as a client that honours retryDelay would
expect). The wait reported in RetryInfo is the time until enough of the window's oldest entries
expire for this request to fit (for the calendar day: until midnight Pacific).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = (
    "PACIFIC",
    "QUOTA_IDS",
    "PacificDayWindow",
    "Quotas",
    "Refusal",
    "RollingWindow",
    "pacific_now",
    "seconds_to_pacific_midnight",
)

PACIFIC = ZoneInfo("America/Los_Angeles")

QUOTA_IDS = {
    "rpm": (
        "GenerateRequestsPerMinutePerProjectPerModel",
        "generativelanguage.googleapis.com/generate_content_requests",
    ),
    "tpm": (
        "GenerateContentInputTokensPerModelPerMinute",
        "generativelanguage.googleapis.com/generate_content_input_token_count",
    ),
    "rpd": (
        "GenerateRequestsPerDayPerProjectPerModel",
        "generativelanguage.googleapis.com/generate_requests_per_model_per_day",
    ),
}


class RollingWindow:
    """Amounts added at times, summed over the last `window_s` seconds."""

    __slots__ = ("events", "limit", "total", "window_s")

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0

    def _expire(self, now: float) -> None:
        events = self.events
        horizon = now - self.window_s
        while events and events[0][0] <= horizon:
            self.total -= events.popleft()[1]

    def wait(self, now: float, amount: int) -> float:
        """0 when `amount` fits now, else the seconds until it will (the whole window if it never fits)."""
        self._expire(now)
        excess = self.total + amount - self.limit
        if excess <= 0:
            return 0.0
        if (
            amount > self.limit
        ):  # never fits: report a whole window, the client's retries will give up
            return self.window_s
        for at, n in self.events:
            excess -= n
            if excess <= 0:
                return at + self.window_s - now
        return self.window_s  # unreachable: total >= excess

    def add(self, now: float, amount: int) -> None:
        self.events.append((now, amount))
        self.total += amount

    def remaining(self) -> int:
        return max(0, self.limit - self.total)


def seconds_to_pacific_midnight(now: datetime) -> float:
    """Seconds from `now` (aware) to the next midnight in America/Los_Angeles, across DST changes."""
    local = now.astimezone(PACIFIC)
    midnight = datetime.combine(
        local.date() + timedelta(days=1), time(0), tzinfo=PACIFIC
    )
    return (midnight.astimezone(UTC) - now.astimezone(UTC)).total_seconds()


def pacific_now() -> datetime:
    return datetime.now(PACIFIC)


class PacificDayWindow:
    """Amounts added during the current day in America/Los_Angeles: the service's requests-per-day
    quota, which resets at midnight Pacific time. `clock` gives the (aware) current time."""

    __slots__ = ("clock", "day", "limit", "total")

    def __init__(self, limit: int, clock: Callable[[], datetime] = pacific_now) -> None:
        self.limit = limit
        self.clock = clock
        self.day: date | None = None
        self.total = 0

    def _roll(self) -> datetime:
        now = self.clock()
        day = now.astimezone(PACIFIC).date()
        if day != self.day:
            self.day, self.total = day, 0
        return now

    def wait(self, now: float, amount: int) -> float:
        """0 when `amount` fits today, else the seconds until midnight Pacific."""
        wall = self._roll()
        if self.total + amount <= self.limit:
            return 0.0
        return seconds_to_pacific_midnight(wall)

    def add(self, now: float, amount: int) -> None:
        self._roll()
        self.total += amount

    def remaining(self) -> int:
        return max(0, self.limit - self.total)


Window = RollingWindow | PacificDayWindow


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was refused: which limit, its value, and the wait until it would be admitted."""

    kind: str  # "rpm" | "tpm" | "rpd"
    limit: int
    retry_after_s: float
    remaining_requests: int | None
    remaining_tokens: int | None


class Quotas:
    """All windows of one emulator, created per (key, model) on first use."""

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        rpd: int | None,
        window_s: float,
        day_window_s: float | None,
        clock: Callable[[], datetime] = pacific_now,
    ) -> None:
        self.clock = clock
        self.specs = [
            (k, v, w)
            for k, v, w in (
                ("rpm", rpm, window_s),
                ("tpm", tpm, window_s),
                ("rpd", rpd, day_window_s),
            )
            if v
        ]
        self.windows: dict[tuple[str, str], list[tuple[str, Window]]] = {}

    @property
    def active(self) -> bool:
        return bool(self.specs)

    def _get(self, key: str, model: str) -> list[tuple[str, Window]]:
        found = self.windows.get((key, model))
        if found is None:
            found = [
                (
                    kind,
                    RollingWindow(limit, window)
                    if window is not None
                    else PacificDayWindow(limit, self.clock),
                )
                for kind, limit, window in self.specs
            ]
            self.windows[(key, model)] = found
        return found

    def admit(self, key: str, model: str, tokens: int, now: float) -> Refusal | None:
        """Count the request and return None, or return the refusal (and count nothing)."""
        windows = self._get(key, model)
        worst: tuple[float, str, Window] | None = None
        for kind, window in windows:
            wait = window.wait(now, tokens if kind == "tpm" else 1)
            if wait > 0 and (worst is None or wait > worst[0]):
                worst = (wait, kind, window)
        if worst is not None:
            wait, kind, window = worst
            return Refusal(
                kind,
                window.limit,
                wait,
                self._remaining(windows, "rpm"),
                self._remaining(windows, "tpm"),
            )
        for kind, window in windows:
            window.add(now, tokens if kind == "tpm" else 1)
        return None

    def snapshot(self, key: str, model: str) -> tuple[int | None, int | None]:
        """Remaining requests and tokens in the minute windows (for x-ratelimit-* headers)."""
        windows = self._get(key, model)
        return self._remaining(windows, "rpm"), self._remaining(windows, "tpm")

    @staticmethod
    def _remaining(windows: list[tuple[str, Window]], kind: str) -> int | None:
        for k, window in windows:
            if k == kind:
                return window.remaining()
        return None
