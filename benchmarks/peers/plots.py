"""The PNGs of docs/benchmarks/: throughput over time, 429s over time, memory (matplotlib, headless).

matplotlib is a benchmark-only dependency: `pip install matplotlib` into the project's environment (the suite
says so when it is missing); the project itself never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .scenarios import TOOLS
from .tools import LABELS

if TYPE_CHECKING:
    from .suite import ScenarioResult

COLOURS = {
    "ours-openai": "#1f77b4",
    "ours-gemini": "#6baed6",
    "curator": "#d62728",
    "litellm": "#2ca02c",
    "plain": "#7f7f7f",
}
SMOOTH_S = 5.0


def draw(results: list[ScenarioResult], assets: Path) -> dict[str, Path]:
    """Write the plots that the results allow; name -> path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "matplotlib is missing: pip install matplotlib (a benchmark-only dependency); no plots drawn"
        )
        return {}
    assets.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, Path] = {}
    timed = [
        r for r in results if r.parallel and any(len(f.samples) > 2 for f in r.figures)
    ]
    if timed:
        drawn["throughput"] = _grid(
            plt, timed, assets / "throughput.png", _throughput, "replies 200 per second"
        )
    limited = [r for r in timed if any(f.rate_limited for f in r.figures)]
    if limited:
        drawn["rate_limits"] = _grid(
            plt,
            limited,
            assets / "rate_limits.png",
            _rate_limited,
            "429s sent (cumulative)",
        )
    if any(f.rss for r in results for f in r.figures):
        drawn["memory"] = _memory(plt, results, assets / "memory.png")
    return drawn


def _grid(
    plt: object, results: list[ScenarioResult], path: Path, series: object, ylabel: str
) -> Path:
    columns = 2
    rows = (len(results) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(12, 3.4 * rows), squeeze=False)  # type: ignore[attr-defined]
    for ax, result in zip(axes.flat, results, strict=False):
        for f in sorted(result.figures, key=lambda f: TOOLS.index(f.tool)):
            xs, ys = series(f.samples)  # type: ignore[operator]
            if xs:
                ax.plot(
                    xs, ys, label=LABELS[f.tool], color=COLOURS[f.tool], linewidth=1.4
                )
            if f.killed_at_s is not None:
                ax.axvline(
                    f.killed_at_s, color=COLOURS[f.tool], linestyle=":", linewidth=1
                )
        if series is _throughput and result.server_rpm:
            ax.axhline(
                result.server_rpm / 60.0,
                color="black",
                linestyle="--",
                linewidth=1,
                label="emulator limit",
            )
        ax.set_title(result.title, fontsize=10)
        ax.set_xlabel("seconds since the tools started")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)  # type: ignore[attr-defined]
    return path


def _throughput(samples: list[dict[str, float]]) -> tuple[list[float], list[float]]:
    """200s per second over a trailing SMOOTH_S window, from the cumulative samples."""
    xs: list[float] = []
    ys: list[float] = []
    points = [{"t": 0.0, "ok": 0.0}, *samples]
    start = 0
    for end in range(1, len(points)):
        while points[end]["t"] - points[start]["t"] > SMOOTH_S and start < end - 1:
            start += 1
        span = points[end]["t"] - points[start]["t"]
        if span > 0:
            xs.append(points[end]["t"])
            ys.append((points[end]["ok"] - points[start]["ok"]) / span)
    return xs, ys


def _rate_limited(samples: list[dict[str, float]]) -> tuple[list[float], list[float]]:
    return [0.0, *(s["t"] for s in samples)], [
        0.0,
        *(s["rate_limited"] for s in samples),
    ]


def _memory(plt: object, results: list[ScenarioResult], path: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2))  # type: ignore[attr-defined]
    many = next((r for r in results if r.scenario == "many-rows"), None)
    if many is not None:
        for f in sorted(many.figures, key=lambda f: TOOLS.index(f.tool)):
            points = [(t, mb) for t, mb in f.rss if mb > 0]
            if points:
                left.plot(
                    [t for t, _ in points],
                    [mb for _, mb in points],
                    label=LABELS[f.tool],
                    color=COLOURS[f.tool],
                )
        left.set_title(f"RSS of the client's process tree: {many.title}", fontsize=10)
        left.set_xlabel("seconds since the tool started")
        left.set_ylabel("MB")
        left.grid(alpha=0.3)
        left.legend(fontsize=8)
    else:
        left.axis("off")
    names = [r.scenario for r in results]
    width = 0.8 / len(TOOLS)
    for i, tool in enumerate(TOOLS):
        heights = []
        for r in results:
            found = next((f for f in r.figures if f.tool == tool), None)
            heights.append(found.peak_rss_mb if found else 0.0)
        right.bar(
            [x + i * width for x in range(len(names))],
            heights,
            width,
            label=LABELS[tool],
            color=COLOURS[tool],
        )
    right.set_xticks(
        [x + 0.4 - width / 2 for x in range(len(names))],
        names,
        rotation=30,
        ha="right",
        fontsize=8,
    )
    right.set_ylabel("peak RSS, MB")
    right.set_title("Peak RSS by scenario", fontsize=10)
    right.grid(axis="y", alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)  # type: ignore[attr-defined]
    return path
