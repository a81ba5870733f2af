"""Each request of a run, journaled as it ends (issue 18): what `pipeline report` draws the timeline from.

`AttemptLog.ended()` is called once per request by the row loop, with the parsed reply or the `AttemptError`;
it builds an `AttemptRecord` and queues it on the journal, which commits it with the next group commit (no
await, no fsync wait: this is the hot path). A request cut short by a cancellation is not journaled.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.errors import AttemptError
from pipeline.records import AttemptRecord, Reply

__all__ = ("AttemptLog",)


class AttemptLog:
    """Turns the end of a request into an `AttemptRecord` for `note` (the journal's `note_attempt`)."""

    __slots__ = ("_note",)

    def __init__(self, note: Callable[[AttemptRecord], None] | None = None) -> None:
        self._note = note

    def ended(
        self,
        row_id: str,
        attempt: int,
        latency_ms: float,
        result: Reply | AttemptError | None,
    ) -> None:
        """Journal one request that took `latency_ms` and ended with `result` (None: not an attempt's end)."""
        if self._note is None or result is None:
            return
        ended_at = time.time()
        started_at = ended_at - latency_ms / 1000.0
        # The served tier: set by providers that report it (the `service_tier` result column is coming).
        tier = getattr(result, "service_tier", None)
        if isinstance(result, AttemptError):
            record = AttemptRecord(
                row_id,
                attempt,
                started_at,
                ended_at,
                "error",
                result.http_status,
                result.code,
                str(result),
                tier,
            )
        else:
            record = AttemptRecord(
                row_id,
                attempt,
                started_at,
                ended_at,
                result.status,
                200,
                result.error_code,
                result.error_message,
                tier,
            )
        self._note(record)
