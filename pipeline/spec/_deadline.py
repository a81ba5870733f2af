"""`[limits] deadline`: when a job with `service_tier = "auto"` must be done.

Either a time of day in local time ("06:00", "06:00:30": the next such moment after the run starts, so a run
started at 23:00 with "06:00" has until 06:00 tomorrow) or an ISO 8601 timestamp ("2026-12-04T06:00",
"2026-12-04T06:00:00+01:00", "...Z"; without an offset it is local time). Errors are `_Bad`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from ._values import _Bad, _got

__all__ = ("Deadline", "_deadline")

_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


@dataclass(frozen=True, slots=True)
class Deadline:
    """A deadline as written (`text`), read as a time of day (`time_of_day`) or a moment (`at`, aware)."""

    text: str
    time_of_day: time | None = None
    at: datetime | None = None

    def resolve(self, now: datetime) -> datetime:
        """The moment this deadline names, for a run that starts at `now` (aware): a time of day is its next
        occurrence after `now`, in local time."""
        if self.at is not None:
            return self.at
        assert self.time_of_day is not None
        local = now.astimezone()
        candidate = datetime.combine(local.date(), self.time_of_day).astimezone()
        if candidate <= local:
            candidate = datetime.combine(
                local.date() + timedelta(days=1), self.time_of_day
            ).astimezone()
        return candidate


def _deadline(key: str, value: Any) -> Deadline:
    wanted = (
        'expected a time of day such as "06:00" (local time) or an ISO timestamp such as '
        f'"2026-12-04T06:00:00+01:00", got {_got(value)}'
    )
    if not isinstance(value, str) or not value.strip():
        raise _Bad(key, wanted)
    text = value.strip()
    match = _TIME_OF_DAY.match(text)
    if match is not None:
        hour, minute, second = (int(part or 0) for part in match.groups())
        if hour > 23 or minute > 59 or second > 59:
            raise _Bad(key, wanted)
        return Deadline(text, time_of_day=time(hour, minute, second))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Bad(key, wanted) from None
    if "T" not in text.upper() and " " not in text:
        raise _Bad(key, wanted)  # a bare date: which hour of it?
    return Deadline(text, at=moment.astimezone())
