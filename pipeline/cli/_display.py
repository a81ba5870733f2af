"""What a person watching a run sees on stderr: a live progress line, then a closing summary table.

On a terminal it is a rich live display refreshed four times a second; in a log file (no terminal) it writes
one plain line every few seconds instead, so a nightly job's log shows how it went without control codes.
The line itself is `pipeline.api.progress_line`, which `pipeline.run(quiet=False)` logs too.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self

import anyio
from rich.console import Console
from rich.live import Live
from rich.text import Text

from pipeline.api import LOG_EVERY_S, one_line, progress_line
from pipeline.engine import RunStats
from pipeline.report import KeyFigures, key_strip_items


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
                self._console.print(one_line(snap), highlight=False)
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
