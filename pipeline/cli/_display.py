"""What a person watching a run sees on stderr: a live progress line, then a closing summary table.

On a terminal it is a rich live display refreshed four times a second; in a log file (no terminal) it writes
one plain line every few seconds instead, so a nightly job's log shows how it went without control codes.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self

import anyio
from rich.console import Console
from rich.live import Live
from rich.text import Text

from pipeline.report import KeyFigures, key_strip_items
from pipeline.run import RunStats, Snapshot

LOG_EVERY_S = 5.0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(snap: Snapshot) -> str:
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
    return " | ".join(parts[:5]) + "\n  " + " | ".join(parts[5:])


class ProgressDisplay:
    """Shows `stats` until the block ends. Use as `async with ProgressDisplay(stats, console): ...`."""

    def __init__(
        self, stats: RunStats, console: Console, *, enabled: bool = True
    ) -> None:
        self._stats = stats
        self._console = console
        self._enabled = enabled
        self._live: Live | None = None
        self._scope: anyio.CancelScope | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        if not self._enabled:
            return self
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        if self._console.is_terminal:
            self._live = Live(
                Text(""), console=self._console, refresh_per_second=4, transient=False
            )
            self._live.start()
        self._tg.start_soon(self._refresh)
        return self

    async def _refresh(self) -> None:
        last_log = time.monotonic()
        while True:
            snap = self._stats.snapshot()
            if self._live is not None:
                self._live.update(Text(progress_line(snap), overflow="fold"))
            elif time.monotonic() - last_log >= LOG_EVERY_S:
                self._console.print(
                    progress_line(snap).replace("\n ", ""), highlight=False
                )
                last_log = time.monotonic()
            await anyio.sleep(0.25)

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
        if self._live is not None:
            self._live.update(
                Text(progress_line(self._stats.snapshot()), overflow="fold")
            )
            self._live.stop()


def key_figure_lines(figures: KeyFigures, run_dir: object) -> str:
    """The closing summary's key figures: the same as the report's header, and where the report is."""
    lines = [(label, value) for _key, value, label in key_strip_items(figures)]
    lines.append(
        (
            "report",
            f"pipeline report {run_dir}   (charts: requests, 429s, latency, cost, failures)",
        )
    )
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in lines)
