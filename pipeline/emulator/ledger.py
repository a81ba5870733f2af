"""What the emulator received and billed, kept with dict increments so it costs little per request."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from .batch_ledger import BatchLedger

TOKEN_KINDS = ("input", "output", "thinking", "image_output", "cached")


class BodyStat:
    """Requests seen with one exact body: how many, how many answered 200, by status."""

    __slots__ = ("admitted", "count", "excerpt", "ok", "statuses")

    def __init__(self, excerpt: str) -> None:
        self.count = 0
        self.admitted = (
            0  # requests past auth, validation and limits: the attempt number of faults
        )
        self.ok = 0
        self.statuses: dict[str, int] = {}
        self.excerpt = excerpt


class Ledger:
    """Counters for GET /_emulator/ledger; `reset()` clears them (POST /_emulator/reset)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.reset()

    def reset(self) -> None:
        self.started_at = (
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        self.t0 = time.monotonic()
        self.by_route: dict[str, dict[str, int]] = {}
        self.tokens = dict.fromkeys(TOKEN_KINDS, 0)
        self.tokens_lost = dict.fromkeys(TOKEN_KINDS, 0)
        self.bodies: dict[bytes, BodyStat] = {}
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rate_limited = 0
        self.per_window: dict[int, int] = {}
        self.uploads = 0
        self.upload_bytes = 0
        self.requests = 0
        self.batch = BatchLedger()  # the Batch API, counted apart (batch_ledger.py)

    def enter(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def body(self, digest: bytes, excerpt: str) -> BodyStat:
        stat = self.bodies.get(digest)
        if stat is None:
            stat = self.bodies[digest] = BodyStat(excerpt[:80])
        stat.count += 1
        return stat

    def record(self, route: str, status: str, stat: BodyStat | None = None) -> None:
        """One answered request (status: the HTTP code as a string, or `reset`)."""
        self.requests += 1
        statuses = self.by_route.get(route)
        if statuses is None:
            statuses = self.by_route[route] = {}
        statuses[status] = statuses.get(status, 0) + 1
        bucket = int((time.monotonic() - self.t0) // self.window_s)
        self.per_window[bucket] = self.per_window.get(bucket, 0) + 1
        if status == "429":
            self.rate_limited += 1
        if stat is not None:
            stat.statuses[status] = stat.statuses.get(status, 0) + 1
            if status == "200":
                stat.ok += 1

    def bill(
        self,
        input_tokens: int,
        output: int,
        thinking: int,
        image_output: int = 0,
        cached: int = 0,
        *,
        lost: bool = False,
    ) -> None:
        """Book a generated reply. `lost`: it was generated (so a real service bills it) but the
        client could not use it (a malformed or truncated body): kept apart in `tokens_lost`."""
        tokens = self.tokens_lost if lost else self.tokens
        tokens["input"] += input_tokens
        tokens["output"] += output
        tokens["thinking"] += thinking
        tokens["image_output"] += image_output
        tokens["cached"] += cached

    def upload(self, size: int) -> None:
        self.uploads += 1
        self.upload_bytes += size

    def to_json(self) -> dict[str, Any]:
        """The ledger document; `per_window` is a list indexed by window since the start."""
        last = max(self.per_window, default=-1)
        return {
            "started_at": self.started_at,
            "uptime_s": round(time.monotonic() - self.t0, 3),
            "window_s": self.window_s,
            "requests": self.requests,
            "requests_by_route": {
                route: dict(sorted(s.items()))
                for route, s in sorted(self.by_route.items())
            },
            "tokens": dict(self.tokens),
            "tokens_lost": dict(self.tokens_lost),
            "requests_by_body": [
                {
                    "sha256": digest.hex(),
                    "count": stat.count,
                    "ok": stat.ok,
                    "statuses": dict(sorted(stat.statuses.items())),
                    "excerpt": stat.excerpt,
                }
                for digest, stat in self.bodies.items()
            ],
            "peak_in_flight": self.peak_in_flight,
            "in_flight": self.in_flight,
            "rate_limited": self.rate_limited,
            "per_window": [self.per_window.get(i, 0) for i in range(last + 1)],
            "uploads": {"count": self.uploads, "bytes": self.upload_bytes},
            "batch": self.batch.to_json(),
        }
