"""Runs the scenarios: for each tool a fresh emulator, the tool watched to its end, then its figures.

Scenarios marked `parallel` start every tool at once, each against its own emulator (the emulators share the
server core, the tools the client core); their run time is set by limits and latencies, and the suite checks the
claim by reporting the tools' summed CPU use over the scenario's wall time. The others run one tool at a time.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import data
from .emulator import EmulatorProcess
from .metrics import Figures, figures
from .monitor import Watcher
from .scenarios import Scale, Scenario
from .tools import launch, read_outcomes


@dataclass(slots=True)
class ScenarioResult:
    """The figures of every tool in one scenario, and how the scenario was run."""

    scenario: str
    title: str
    what: str
    parallel: bool
    wall_s: float
    server_rpm: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    figures: list[Figures] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # tool -> why

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "what": self.what,
            "parallel": self.parallel,
            "wall_s": self.wall_s,
            "server_rpm": self.server_rpm,
            "settings": self.settings,
            "figures": [f.to_json() for f in self.figures],
            "skipped": self.skipped,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ScenarioResult:
        return cls(
            scenario=raw["scenario"],
            title=raw["title"],
            what=raw["what"],
            parallel=raw["parallel"],
            wall_s=raw["wall_s"],
            server_rpm=raw.get("server_rpm"),
            settings=dict(raw.get("settings", {})),
            figures=[Figures.from_json(f) for f in raw["figures"]],
            skipped=dict(raw.get("skipped", {})),
        )


def run_scenario(
    scenario: Scenario,
    scale: Scale,
    work: Path,
    tools: list[str],
    unavailable: dict[str, str],
    say: Callable[[str], None] = print,
) -> ScenarioResult:
    """Every tool of `scenario` (less the unavailable ones), side by side or one after another."""
    base = work.resolve() / scenario.name
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    rows = data.write_rows(
        base / "rows.jsonl",
        scenario.rows,
        directive=scenario.directive,
        every=scenario.directive_every,
        images=scenario.images,
    )
    media = data.write_images(work / "images") if scenario.images else None
    chosen = [t for t in scenario.tools if t in tools and t not in unavailable]
    result = ScenarioResult(
        scenario.name,
        scenario.title,
        scenario.what,
        scenario.parallel,
        0.0,
        scenario.server_rpm,
    )
    result.settings = {
        "rows": scenario.rows,
        "emulator": " ".join(scenario.emulator_flags),
        "client_rpm": scenario.client_rpm,
        "concurrency": scenario.concurrency,
        "max_attempts": scenario.max_attempts,
        "timeout_s": scenario.timeout_s,
        "cap_s": scenario.cap_s,
        "window_s": scale.window_s,
    }
    result.skipped = {
        t: unavailable[t] for t in scenario.tools if t in tools and t in unavailable
    }
    started = time.monotonic()
    if scenario.parallel:
        found: dict[str, Figures] = {}
        threads = [
            threading.Thread(
                target=lambda t=t: found.__setitem__(
                    t, run_tool(t, scenario, scale, base, rows, media)
                )
            )
            for t in chosen
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.figures = [found[t] for t in chosen if t in found]
    else:
        for tool in chosen:
            result.figures.append(run_tool(tool, scenario, scale, base, rows, media))
    result.wall_s = round(time.monotonic() - started, 1)
    for f in result.figures:
        say(
            f"  {scenario.name:>16} {f.tool:<12} wall {f.wall_s:7.1f} s  ok {f.rows_ok:>7,}/{f.rows:,}  "
            f"failed {f.rows_failed:>5}  missing {f.rows_missing:>6}  requests {f.requests:>7,}  "
            f"429 {f.rate_limited:>5}  cpu {f.cpu_s:6.1f} s  rss {f.peak_rss_mb:6.0f} MB"
            + ("" if f.finished else "  (stopped at the cap)")
        )
    return result


def run_tool(
    tool: str,
    scenario: Scenario,
    scale: Scale,
    base: Path,
    rows: Path,
    media: Path | None,
) -> Figures:
    work = base / tool
    shutil.rmtree(work, ignore_errors=True)
    with EmulatorProcess(scenario.emulator_flags) as emu:
        ready = launch(tool, scenario, work, emu.base_url, rows, media)
        kill_after = (
            round(scenario.rows * scenario.kill_at) if scenario.kill_at else None
        )
        watcher = Watcher(
            ready,
            emu,
            poll_s=scenario.poll_s,
            cap_s=scenario.cap_s,
            kill_after_ok=kill_after,
            log=work / "logs",
            pin=not scenario.parallel,  # side by side, the tools share both cores rather than queue on one
        )
        watched = watcher.run()
        ledger = emu.ledger()
    window = scale.window_s if scenario.server_rpm else None
    result = figures(
        tool,
        scenario.name,
        scenario.rows,
        watched,
        ledger,
        read_outcomes(ready),
        window,
    )
    (work / "ledger-summary.json").write_text(
        json.dumps(
            {k: v for k, v in ledger.items() if k != "requests_by_body"}, indent=2
        ),
        encoding="utf-8",
    )
    return result
