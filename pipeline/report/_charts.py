"""The report's charts: matplotlib figures rendered as inline SVG (text kept as text, so they stay small,
sharp at any zoom and searchable; no script, no font or style fetched from anywhere).

Matplotlib is imported here only, when a report is drawn: the CLI and the run never pay for it. Figures are
built with the object API (`Figure`, no pyplot), so no global state or GUI backend is involved.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ._data import RunData
from ._figures import COST_KINDS, Cause, KeyFigures

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = (
    "failures_chart",
    "latency_chart",
    "progress_chart",
    "requests_chart",
    "spend_chart",
)

_STYLE: Any = {  # typed loosely: matplotlib's stubs name every rc key as a Literal
    "svg.fonttype": "none",  # text as <text>, not paths: a fraction of the size
    "svg.hashsalt": None,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 96,
}
_COLORS = {
    "requests": "#4c78a8",
    "ok": "#54a24b",
    "429": "#e45756",
    "limit": "#444444",
    "failed": "#e45756",
    "blocked": "#f58518",
    "invalid": "#b279a2",
    "pending": "#bab0ac",
    "eta": "#9d755d",
}
_NICE_BUCKETS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    21600,
    86400,
)


@contextmanager
def _figure(width: float = 8.0, height: float = 3.0) -> Iterator[Figure]:
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        from matplotlib.figure import Figure

        yield Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[
        text.index("<svg") :
    ]  # drop the XML prolog and DOCTYPE: the SVG sits inside HTML


def _empty(ax: Axes, message: str) -> None:
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="#666",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _bucket(span_s: float, buckets: int = 60) -> float:
    for size in _NICE_BUCKETS:
        if span_s / size <= buckets:
            return float(size)
    return float(_NICE_BUCKETS[-1])


def _origin(data: RunData) -> float | None:
    starts = [a.started_at for a in data.attempts] + [
        r.started for r in data.rows if r.started is not None
    ]
    return min(starts) if starts else None


def _counts(times: Sequence[float], t0: float, size: float, n: int) -> list[float]:
    counts = [0.0] * n
    for t in times:
        index = min(n - 1, max(0, int((t - t0) // size)))
        counts[index] += 1
    return [c * 60.0 / size for c in counts]  # per minute


def requests_chart(data: RunData) -> str:
    """Requests sent, replies received and 429s per minute over the run, against the configured limit."""
    with _figure() as fig:
        ax = fig.add_subplot()
        t0 = _origin(data)
        attempts = data.attempts
        if t0 is None or not attempts:
            _empty(
                ax,
                "no requests journaled (runs made before pipeline journaled them have none)",
            )
            return _svg(fig)
        span = max(a.ended_at for a in attempts) - t0
        size = _bucket(span)
        n = int(span // size) + 1
        xs = [(i + 0.5) * size / 60.0 for i in range(n)]
        sent = _counts([a.started_at for a in attempts], t0, size, n)
        ok = _counts([a.ended_at for a in attempts if a.result != "error"], t0, size, n)
        limited = _counts(
            [a.ended_at for a in attempts if a.http_status == 429], t0, size, n
        )
        ax.plot(
            xs,
            sent,
            color=_COLORS["requests"],
            label="requests sent",
            drawstyle="steps-mid",
        )
        ax.plot(xs, ok, color=_COLORS["ok"], label="replies", drawstyle="steps-mid")
        ax.bar(
            xs,
            limited,
            width=size / 60.0 * 0.8,
            color=_COLORS["429"],
            label="429s",
            alpha=0.8,
        )
        rpm = data.limits.get("requests_per_minute")
        top = max([*sent, *ok, *limited, 1.0])
        if isinstance(rpm, int | float):
            top = max(top, float(rpm))
            ax.axhline(
                rpm,
                color=_COLORS["limit"],
                linestyle="--",
                linewidth=1,
                label=f"limit {rpm:,g}/min",
            )
        ax.set_xlabel(f"minutes since the first request ({size:g} s buckets)")
        ax.set_ylabel("per minute")
        ax.set_ylim(0, top * 1.12)
        ax.legend(loc="upper right", frameon=True, framealpha=0.9, ncols=4)
        return _svg(fig)


def progress_chart(data: RunData) -> str:
    """Rows done over time, and the ETA the progress line showed at each moment."""
    with _figure() as fig:
        ax = fig.add_subplot()
        t0 = _origin(data)
        finished = sorted(
            r.finished
            for r in data.rows
            if r.finished is not None and r.status != "pending"
        )
        if t0 is None or not finished:
            _empty(ax, "no row has an outcome yet")
            return _svg(fig)
        xs = [(t - t0) / 60.0 for t in finished]
        ys = list(range(1, len(finished) + 1))
        ax.plot(xs, ys, color=_COLORS["ok"], label="rows done")
        total = data.input_rows
        if total:
            ax.axhline(total, color=_COLORS["limit"], linestyle=":", linewidth=1)
            ax.annotate(
                f"{total:,} rows in the input",
                (0, total),
                xytext=(4, -10),
                textcoords="offset points",
            )
        ax.set_xlabel("minutes since the first request")
        ax.set_ylabel("rows done")
        ax.set_ylim(bottom=0)
        if total:
            eta_ax = ax.twinx()
            step = max(1, len(finished) // 200)
            points = [
                (x, (total - done) / (done / (x * 60.0)) / 60.0)
                for x, done in zip(xs[::step], ys[::step], strict=True)
                if x > 0
            ]
            if points:
                eta_ax.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    color=_COLORS["eta"],
                    linestyle="--",
                    linewidth=1,
                    label="ETA then (min)",
                )
            eta_ax.set_ylabel("ETA as it was (minutes)", color=_COLORS["eta"])
            eta_ax.set_ylim(bottom=0)
            eta_ax.grid(False)
            eta_ax.spines["right"].set_visible(True)
            lines = ax.get_legend_handles_labels()
            more = eta_ax.get_legend_handles_labels()
            ax.legend(
                lines[0] + more[0],
                lines[1] + more[1],
                loc="center right",
                frameon=False,
            )
        return _svg(fig)


def latency_chart(data: RunData, figures: KeyFigures) -> str:
    """The distribution of request latency (requests that got a reply), with p50, p90 and p99 marked."""
    with _figure() as fig:
        ax = fig.add_subplot()
        values = [
            (a.ended_at - a.started_at) * 1000.0
            for a in data.attempts
            if a.result != "error"
        ]
        if not data.attempts:
            values = [r.latency_ms for r in data.rows if r.latency_ms is not None]
        if not values:
            _empty(ax, "no reply yet")
            return _svg(fig)
        ax.hist(
            values,
            bins=min(60, max(10, len(values) // 5)),
            color=_COLORS["requests"],
            alpha=0.85,
        )
        styles = {"p50": "-", "p90": "--", "p99": ":"}
        for name, value in figures.latency_ms.items():
            if value is not None:
                ax.axvline(
                    value,
                    color=_COLORS["limit"],
                    linestyle=styles[name],
                    linewidth=1.2,
                    label=f"{name} {_ms(value)}",
                )
        ax.set_xlabel("latency of a request (ms)")
        ax.set_ylabel("requests")
        ax.legend(frameon=False)
        return _svg(fig)


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def spend_chart(data: RunData, figures: KeyFigures) -> str:
    """Tokens by kind; dollars by kind, by row status and (when the provider reports one) by served tier."""
    usage = data.status.get("tokens", {})
    panels: list[tuple[str, dict[str, float], Callable[[float], str]]] = [
        (
            "tokens by kind",
            {
                k: float(usage.get(f"{k}_tokens", 0) or 0)
                for k in ("input", "output", "thinking", "cached", "image_output")
            },
            lambda v: f"{v:,.0f}",
        ),
        (
            "dollars by kind",
            {k: figures.cost_by_kind.get(k, 0.0) for k in COST_KINDS},
            _usd,
        ),
        ("dollars by status", dict(sorted(figures.cost_by_status.items())), _usd),
    ]
    if figures.cost_by_tier:
        panels.append(
            ("dollars by served tier", dict(sorted(figures.cost_by_tier.items())), _usd)
        )
    with _figure(width=8.0, height=2.6 * ((len(panels) + 1) // 2)) as fig:
        axes = fig.subplots((len(panels) + 1) // 2, 2, squeeze=False).flatten()
        for ax, (title, values, fmt) in zip(axes, panels, strict=False):
            _bars(ax, title, values, fmt)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        return _svg(fig)


def _usd(value: float) -> str:
    return f"${value:,.4f}" if value < 10 else f"${value:,.2f}"


def _bars(
    ax: Axes, title: str, values: dict[str, float], fmt: Callable[[float], str]
) -> None:
    ax.set_title(title, loc="left")
    if not any(values.values()):
        _empty(ax, "none")
        return
    names = list(values)
    colors = [_COLORS.get(name, _COLORS["requests"]) for name in names]
    bars = ax.barh(names, [values[n] for n in names], color=colors)
    ax.bar_label(bars, labels=[fmt(values[n]) for n in names], padding=3)
    ax.invert_yaxis()
    ax.margins(x=0.3)
    ax.set_xticks([])
    ax.grid(False)


def failures_chart(causes: Sequence[Cause]) -> str:
    """Failed requests by cause: those that were retried and those that ended their row."""
    with _figure(height=max(1.6, 0.35 * len(causes) + 1.0)) as fig:
        ax = fig.add_subplot()
        if not causes:
            _empty(ax, "no request failed and no row was blocked")
            return _svg(fig)
        names = [c.code for c in causes]
        retried = [c.retried for c in causes]
        final = [c.final for c in causes]
        ax.barh(names, retried, color=_COLORS["requests"], label="retried")
        ax.barh(
            names,
            final,
            left=retried,
            color=_COLORS["failed"],
            label="ended the row (failed or blocked)",
        )
        ax.invert_yaxis()
        ax.set_xlabel("requests")
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)
        return _svg(fig)
