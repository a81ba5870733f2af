"""A run's progress as text: the line `pipeline run` shows live, and the same line logged by `pipeline.run()`.

The command line draws `progress_line` with rich (`cli._display`); the Python API has no terminal of its own,
so `quiet=False` logs it through the `pipeline` logger every few seconds instead (`LoggedProgress`).
"""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import Self

import anyio

from pipeline.engine import RunStats, Snapshot

__all__ = ("LOG_EVERY_S", "LoggedProgress", "one_line", "progress_line")

LOG_EVERY_S = 5.0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(snap: Snapshot) -> str:
    """Two lines: rows, ok and not ok, in flight, requests/s; then tokens, cost, elapsed, ETA and pacing; in
    batch mode a third, the batch jobs' states and counts."""
    total = "?" if snap.total_rows is None else str(snap.total_rows - snap.skipped)
    failed = sum(n for status, n in snap.by_status.items() if status != "ok")
    parts = [
        f"rows {snap.done}/{total}",
        f"ok {snap.by_status.get('ok', 0)}",
        f"not ok {failed}",
        f"in flight {snap.in_flight}",
        f"{snap.requests_per_s:.1f} req/s",
        f"tokens {snap.tokens:,}",
        f"cost ${snap.cost_usd:.4f}",
        f"elapsed {_duration(snap.elapsed_s)}",
        f"ETA {_duration(snap.eta_s)}",
    ]
    if snap.skipped:
        parts.insert(1, f"resumed past {snap.skipped}")
    if snap.rate_limited:
        parts.append(f"429s {snap.rate_limited}")
    if snap.paused_for_s > 0:
        parts.append(f"paused {snap.paused_for_s:.1f}s (server asked)")
    elif snap.pacing_per_s is not None:
        parts.append(f"pacing {snap.pacing_per_s * 60:.0f}/min")
    if snap.stopping:
        parts.append(f"stopping: {snap.stopping}")
    lines = " | ".join(parts[:5]) + "\n  " + " | ".join(parts[5:])
    return lines if snap.batch is None else f"{lines}\n  {snap.batch}"


def one_line(snap: Snapshot) -> str:
    """`progress_line` for a log: one line."""
    return " | ".join(line.strip() for line in progress_line(snap).splitlines())


class LoggedProgress:
    """Logs `stats` at INFO every `every_s` seconds and once at the end: `async with LoggedProgress(stats, log):`."""

    def __init__(
        self, stats: RunStats, logger: logging.Logger, every_s: float = LOG_EVERY_S
    ) -> None:
        self._stats = stats
        self._logger = logger
        self._every_s = every_s
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        # Entered by hand, as cli._display does, so that an error of the run is not wrapped in an ExceptionGroup.
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._log_every)
        return self

    async def _log_every(self) -> None:
        last = time.monotonic()
        while True:
            await anyio.sleep(0.25)
            if time.monotonic() - last >= self._every_s:
                self._logger.info("%s", one_line(self._stats.snapshot()))
                last = time.monotonic()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tg is None:
            return
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        self._logger.info("%s", one_line(self._stats.snapshot()))
