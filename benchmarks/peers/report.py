"""docs/benchmarks.md: the settings, one table per scenario (ratios to `pipeline run` with kind "openai"), the
figures where a peer is ahead, the plots, and the commentary of `analysis.md` beside this file.

`analysis.md` is written by hand after a run: its `## name` sections are spliced in where their names say
(`verdict`, one per scenario, `runner-problems`, `caveats`), so that regenerating the tables keeps the prose.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .scenarios import MODEL, OURS, TOOLS
from .tools import LABELS

if TYPE_CHECKING:
    from .metrics import Figures
    from .suite import ScenarioResult

ANALYSIS = Path(__file__).resolve().parent / "analysis.md"


@dataclass(frozen=True, slots=True)
class Metric:
    """A figure compared across tools: lower is better unless `higher`; `slack` is the absolute difference
    below which a peer is not called ahead (noise)."""

    name: str
    get: Callable[[Figures], float | None]
    higher: bool = False
    slack: float = 0.0
    relative: float = 0.10
    per_row: bool = False  # still comparable when a tool was stopped at the cap


METRICS = (
    Metric("wall time (s)", lambda f: f.wall_s, slack=1.0),
    Metric("time to first request (s)", lambda f: f.ttfr_s, slack=0.3, per_row=True),
    Metric("rows ok", lambda f: f.rows_ok, higher=True, relative=0.0, per_row=True),
    Metric("requests sent", lambda f: f.requests, slack=2, relative=0.02),
    Metric("429s", lambda f: f.rate_limited, slack=2, relative=0.0),
    Metric("replies paid twice", lambda f: f.replies_paid_twice, relative=0.0),
    Metric("tokens billed", lambda f: f.tokens_billed, relative=0.02),
    Metric("CPU (s)", lambda f: f.cpu_s, slack=0.5),
    Metric(
        "CPU per row ok (ms)",
        lambda f: 1000 * f.cpu_s / f.rows_ok if f.rows_ok else None,
        slack=0.05,
        per_row=True,
    ),
    Metric("peak RSS (MB)", lambda f: f.peak_rss_mb, slack=10.0, per_row=True),
)


def sections(text: str) -> dict[str, str]:
    """`## name` -> body of analysis.md."""
    found: dict[str, str] = {}
    for block in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        found[name.strip()] = body.strip()
    return found


def render(
    meta: dict[str, object],
    results: list[ScenarioResult],
    images: dict[str, Path],
    doc_dir: Path,
) -> str:
    notes = sections(ANALYSIS.read_text(encoding="utf-8")) if ANALYSIS.exists() else {}
    scale = meta.get("scale", {})
    assert isinstance(scale, dict)
    versions = meta.get("versions", {})
    assert isinstance(versions, dict)
    out: list[str] = ["# Benchmarks against peers", ""]
    if notes.get("verdict"):
        out += [notes["verdict"], ""]
    out += [
        f"Measured {meta.get('date')} on {meta.get('cores')}, by `{meta.get('command')}` "
        f"(the whole suite: {float(str(meta.get('suite_wall_s', 0))) / 60:.0f} min). "
        + (
            "**A --quick smoke run: small rows and 20 s windows, figures not representative.** "
            if meta.get("quick")
            else ""
        )
        + (f"Merged: {meta['merged']}. " if meta.get("merged") else "")
        + "Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ".",
        "",
    ]
    unavailable = meta.get("unavailable") or {}
    if isinstance(unavailable, dict) and unavailable:
        out += ["Left out because they could not be installed or run here:", ""]
        out += [f"- {LABELS.get(t, t)}: {why}" for t, why in unavailable.items()]
        out += [""]
    out += _method(scale, notes)
    out += _glance(results)
    for result in results:
        out += _scenario(result, notes)
    if images:
        out += ["## Plots", ""]
        captions = {
            "throughput": "Replies (200) per second, over a trailing 5 s, for the scenarios that ran side by side; "
            "dashed: the emulator's limit; dotted: the kill -9.",
            "rate_limits": "429s the emulator sent, cumulative.",
            "memory": "Left: RSS of each client's whole process tree with many rows. Right: peak RSS by scenario.",
        }
        for name, path in images.items():
            out += [
                f"![{name}]({path.relative_to(doc_dir).as_posix()})",
                "",
                captions.get(name, ""),
                "",
            ]
    for name in ("runner-problems", "caveats"):
        if notes.get(name):
            title = {
                "runner-problems": "Problems found in our runner",
                "caveats": "Caveats",
            }[name]
            out += [f"## {title}", "", notes[name], ""]
    out += [
        "## Reproduce",
        "",
        "```bash",
        "pip install matplotlib                       # plots only; not a project dependency",
        "python benchmarks/run_peers.py               # full suite; installs the peers into benchmarks/.venv-*",
        "python benchmarks/run_peers.py --quick       # smoke run, a few minutes",
        "python benchmarks/run_peers.py --only NAME   # one scenario (names below), all tools",
        "python benchmarks/run_peers.py --audit-network   # strace: the peers connect to 127.0.0.1 only",
        "python benchmarks/run_peers.py --render-only     # rewrite this page from docs/benchmarks/results.json",
        "```",
        "",
        "Scenario names: "
        + ", ".join(f"`{r.scenario}`" for r in results)
        + ". Raw figures of this run, with "
        "the ledger samples and RSS series: `docs/benchmarks/results.json`.",
        "",
    ]
    return "\n".join(out)


def _method(scale: dict[str, object], notes: dict[str, str]) -> list[str]:
    rpm = (
        float(str(scale.get("server_limit", 0)))
        * 60.0
        / float(str(scale.get("window_s", 60)))
    )
    lines = [
        "## How it is measured",
        "",
        (
            "- **Ground truth is the emulator's ledger** (`GET /_emulator/ledger`), not what a tool says about itself: "
            "requests and their statuses, 429s sent, peak requests in flight, requests per row id (from "
            "`requests_by_body`; every prompt starts with its row id), replies paid more than once, tokens billed, "
            "and the busiest rolling window of admitted requests (sampled every second while the tool runs)."
        ),
        (
            "- **From the client**: wall time from spawn to exit, time to first request (spawn until the ledger shows "
            "a request, polled every 10 ms), CPU seconds (`os.wait4` rusage of the tool's process and its reaped "
            "children), peak RSS (every 0.1 s: each process's `VmHWM` and the RSS of the whole process tree; the "
            "larger is kept; not `ru_maxrss`, which on Linux inherits the spawning parent's peak), and rows ok / "
            "failed / missing read from each tool's own output (ours: the Parquet results, or the journal when the "
            "run was stopped before writing them)."
        ),
        (
            "- **Each tool gets its own emulator process** (`python -m pipeline emulator --port 0 ...`, pinned to the "
            "first core), so ledgers and quota windows never mix. Scenarios bound by limits and latency run all tools "
            "side by side (each with its own emulator; tools float over both cores); the CPU-bound ones (many rows, "
            "images) run one tool at a time, pinned to the second core. Side by side, the tools' start-up overlaps, "
            "so their time to first request there is inflated; the many-rows scenario gives the clean figure."
        ),
        (
            f"- **Held equal**: the rows and their ids, the model (`{MODEL}`), the emulator "
            f"(limit {scale.get('server_limit')} requests per {scale.get('window_s')} s window = {rpm:g} rpm, lognormal "
            f"latency median {scale.get('latency_ms')} ms, p99 {scale.get('latency_p99_ms')} ms), client limits "
            f"at 90% of the emulator's ({0.9 * rpm:g} rpm) unless a scenario says otherwise, concurrency 32, 5 attempts "
            "per row (first included), a 30 s request timeout unless a scenario says otherwise, log level WARNING "
            "(`--quiet` for ours, which prints errors only)."
        ),
        "- **The tools**:",
        (
            '  - `pipeline (openai kind)`: `pipeline run JOB --out DIR --quiet` with `kind = "openai"` at the '
            "emulator's `/v1`, the wire format every peer speaks. This is the figure every ratio is taken against."
        ),
        '  - `pipeline (gemini kind)`: the same job with `kind = "gemini"`, for reference.',
        (
            '  - `Bespoke Curator`: `curator.LLM(backend="openai")` with `base_url` at `/v1`, '
            "`max_requests_per_minute`, `max_tokens_per_minute` (far above use: the emulator limits requests only, and "
            "Curator's token meter also counts a 4,096-token output estimate per request), `max_concurrent_requests`, "
            "`max_retries = 4`, `request_timeout`, `require_all_responses = False`; `TELEMETRY_ENABLED=false`, "
            "`CURATOR_DISABLE_CACHE=1` (except for kill -9, where its cache is how it resumes), "
            "`CURATOR_VIEWER=0`, `BESPOKE_CURATOR_TRACKER_DISABLED=1`, `CURATOR_DISABLE_RICH_DISPLAY=1`, "
            "`TQDM_DISABLE=1`, `LITELLM_LOCAL_MODEL_COST_MAP=True`, `TIKTOKEN_CACHE_DIR` at the tokenizer files that "
            "litellm ships (tiktoken would download them), `HF_DATASETS_OFFLINE=1`, `HF_HUB_OFFLINE=1`. Driver: "
            "`benchmarks/peers/drivers/curator_driver.py`."
        ),
        (
            "  - `LiteLLM Router`: one deployment `openai/<model>` at `/v1` with `rpm`, "
            "`routing_strategy=\"usage-based-routing-v2\"`, `num_retries = 4` (the Router's retries; the OpenAI SDK's "
            "own are off), `timeout`, an `asyncio.Semaphore(32)` around `acompletion` (the Router has no concurrency "
            "cap), our price table's list price in `model_info`; `LITELLM_LOCAL_MODEL_COST_MAP=True`. Driver: "
            "`benchmarks/peers/drivers/litellm_router.py`."
        ),
        (
            "  - `aiohttp + semaphore`: what a careful user writes by hand: all rows read, one `asyncio.Semaphore(32)`, "
            "request starts paced at the limit, retries of 408/429/5xx/timeouts/resets with exponential backoff or "
            "`retry-after`, one JSON line per finished row. Driver: `benchmarks/peers/drivers/plain_loop.py`."
        ),
        (
            "- **Offline**: every connection the peers open goes to 127.0.0.1 (checked with strace by "
            "`--audit-network`; without the switches above, litellm fetches its cost map from GitHub on import and "
            "tiktoken its encodings from Azure blob storage)."
        ),
        "",
    ]
    return lines


def _glance(results: list[ScenarioResult]) -> list[str]:
    tools = [t for t in TOOLS if any(f.tool == t for r in results for f in r.figures)]
    lines = [
        "## At a glance",
        "",
        (
            "Wall time as a ratio to `pipeline (openai kind)` in the same run (lower is better), with rows ok / "
            "rows. A tool stopped at the scenario's time cap shows the rows it had finished; where ours was "
            "stopped, the others show seconds."
        ),
        "",
        "| scenario | " + " | ".join(LABELS[t] for t in tools) + " |",
        "| --- |" + " --- |" * len(tools),
    ]
    for result in results:
        ours = _find(result, OURS)
        cells = []
        for tool in tools:
            f = _find(result, tool)
            if f is None:
                cells.append("n/a")
            elif not f.finished:
                cells.append(f"stopped at the cap: {f.rows_ok:,}/{f.rows:,}")
            elif ours is not None and ours.finished and ours.wall_s:
                cells.append(
                    f"{f.wall_s / ours.wall_s:.2f}x ({f.rows_ok:,}/{f.rows:,})"
                )
            else:
                cells.append(f"{f.wall_s:.0f} s ({f.rows_ok:,}/{f.rows:,})")
        lines.append(f"| {result.scenario} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _find(result: ScenarioResult, tool: str) -> Figures | None:
    return next((f for f in result.figures if f.tool == tool), None)


def _ratio(value: float | None, base: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    text = f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    if base and value is not None and base != 0:
        return f"{text} ({value / base:.2f}x)"
    return text


def _scenario(result: ScenarioResult, notes: dict[str, str]) -> list[str]:
    ours = _find(result, OURS)
    settings = result.settings
    lines = [
        f"## {result.title}",
        "",
        result.what,
        "",
        f"Reproduce: `python benchmarks/run_peers.py --only {result.scenario}`"
        + (" (tools side by side)" if result.parallel else " (one tool at a time)")
        + f". Emulator flags: `{settings.get('emulator') or '(none)'}`; client limit: "
        + (f"{settings['client_rpm']:g} rpm" if settings.get("client_rpm") else "none")
        + f"; timeout {settings.get('timeout_s')} s; cap {settings.get('cap_s')} s.",
        "",
        (
            "| tool | wall s | first request s | ok / failed / missing | requests | 429s | peak in flight | "
            "busiest window | rows/min | replies paid twice | tokens billed | CPU s | CPU ms/row | peak RSS MB |"
        ),
        "| --- |" + " ---: |" * 13,
    ]
    limit = result.server_rpm
    for f in sorted(result.figures, key=lambda f: TOOLS.index(f.tool)):
        base = ours if ours is not None and f.tool != OURS else None
        busiest = "-"
        if f.peak_window_admitted is not None and limit:
            window_limit = (
                limit * float(settings.get("window_s", 60)) / 60.0
                if "window_s" in settings
                else None
            )
            busiest = f"{f.peak_window_admitted:,}" + (
                f" ({f.peak_window_admitted / window_limit:.0%})"
                if window_limit
                else ""
            )
        lines.append(
            "| "
            + " | ".join(
                [
                    LABELS[f.tool] + ("" if f.finished else " (cap)"),
                    _ratio(f.wall_s, base.wall_s if base else None),
                    _ratio(f.ttfr_s, base.ttfr_s if base else None, 2),
                    f"{f.rows_ok:,} / {f.rows_failed:,} / {f.rows_missing:,}",
                    _ratio(f.requests, base.requests if base else None),
                    f"{f.rate_limited:,}",
                    f"{f.peak_in_flight}",
                    busiest,
                    f"{f.rows_per_min:,.0f}",
                    f"{f.replies_paid_twice:,}",
                    _ratio(f.tokens_billed, base.tokens_billed if base else None),
                    _ratio(f.cpu_s, base.cpu_s if base else None),
                    f"{1000 * f.cpu_s / f.rows_ok:.2f}" if f.rows_ok else "-",
                    _ratio(f.peak_rss_mb, base.peak_rss_mb if base else None, 0),
                ]
            )
            + " |"
        )
    lines.append("")
    if result.skipped:
        lines += [
            f"Not run: {LABELS[t]} ({why})." for t, why in result.skipped.items()
        ] + [""]
    ahead = peers_ahead(result)
    if ahead:
        lines += ["Where a peer is ahead of `pipeline (openai kind)` in this run:", ""]
        lines += [f"- {line}" for line in ahead]
        lines += [""]
    if notes.get(result.scenario):
        lines += [notes[result.scenario], ""]
    return lines


def peers_ahead(result: ScenarioResult) -> list[str]:
    """Figures on which a peer beats ours by more than the metric's noise allowance."""
    ours = _find(result, OURS)
    if ours is None:
        return []
    found: list[str] = []
    for f in result.figures:
        if f.tool.startswith("ours-"):
            continue
        stopped = not (ours.finished and f.finished)
        for metric in METRICS:
            if stopped and not metric.per_row:
                continue  # totals of runs stopped at the cap measure how far they got, not what they cost
            mine, theirs = metric.get(ours), metric.get(f)
            if mine is None or theirs is None:
                continue
            better = theirs - mine if metric.higher else mine - theirs
            if better > metric.slack and better > metric.relative * abs(mine):
                found.append(
                    f"{LABELS[f.tool]}: {metric.name} {_fmt(theirs)} against our {_fmt(mine)}"
                )
    return found


def _fmt(value: float) -> str:
    return (
        (f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}")
        if isinstance(value, float) and not value.is_integer()
        else f"{int(value):,}"
    )
