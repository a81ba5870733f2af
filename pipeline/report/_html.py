"""`pipeline report DIR`: one self-contained HTML file, DIR/report.html.

Everything is inline: the charts are SVG, the thumbnails data URIs, the style one <style> block; there is no
script at all, so the page opens offline, from a mail attachment or an archive, and prints as it shows.
"""

from __future__ import annotations

import contextlib
import html
import os
import secrets
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import OutputError

from ._charts import (
    failures_chart,
    latency_chart,
    progress_chart,
    requests_chart,
    spend_chart,
)
from ._contact import contact_sheet
from ._data import RunData, read_run
from ._figures import KeyFigures, failure_table, key_figures

__all__ = ("REPORT_NAME", "render_html", "write_report")

REPORT_NAME = "report.html"
_WIDE = ' class="wide"'
# summary.json keys the header table leaves out: they say when and where, not what the run did
_NOT_FIGURES = ("written_at", "dir", "spec_hash")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;
max-width:1040px;padding:0 16px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd}
.sub{color:#555;margin:0 0 14px}
.keys{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:8px;margin:12px 0}
.keys div{background:#f4f6f8;border-radius:6px;padding:8px 10px}.keys b{display:block;font-size:18px}
.keys span{color:#555;font-size:12px}.keys div.wide{grid-column:span 2}.keys div.wide b{font-size:14px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}td,th{padding:2px 10px 2px 0;text-align:left}
td.n{text-align:right}th{color:#555;font-weight:normal}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:0 24px}
figure.chart{margin:0}figure.chart svg{width:100%;height:auto}
.sheet{display:flex;flex-wrap:wrap;gap:6px}.tile{margin:0;width:112px;font-size:11px;text-align:center}
.tile img{width:112px;height:112px;object-fit:contain;background:#eee;display:block}
.tile .mark{width:112px;height:112px;display:flex;flex-direction:column;align-items:center;
justify-content:center;font-weight:bold;border:3px solid #e45756;color:#e45756;box-sizing:border-box}
.tile.blocked .mark{border-color:#f58518;color:#f58518}.tile figcaption{overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
.msgs td{font-size:12px;color:#444}
"""


def write_report(run_dir: Path) -> Path:
    """Write DIR/report.html from DIR's journal (read-only: works while a run writes DIR); returns its path.

    Raises `OutputError` when DIR holds no run or the file cannot be written.
    """
    run_dir = Path(run_dir)
    page = render_html(read_run(run_dir))
    path = run_dir / REPORT_NAME
    tmp = path.with_name(f".{REPORT_NAME}.tmp-{secrets.token_hex(4)}")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(
            f"{path}: cannot write the report: {exc.strerror or exc}"
        ) from exc
    return path


def render_html(data: RunData) -> str:
    figures = key_figures(data)
    causes = failure_table(data)
    status = data.status
    title = f"Run report: {data.name or data.run_dir}"
    sub = [
        str(status.get("state", "")),
        f"model {data.model}" if data.model else "",
        f"report written {datetime.now(UTC).isoformat(timespec='seconds')}",
    ]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{html.escape(title)}</h1>",
        (
            f'<p class="sub">{html.escape(" · ".join(p for p in sub if p))}<br>'
            f"<code>{html.escape(str(data.run_dir))}</code></p>"
        ),
        _key_strip(figures),
        "</header>",
        '<section id="summary"><h2>Summary</h2>',
        _summary_table(status),
        "</section>",
        _chart(
            "requests",
            "Requests, replies and 429s per minute, against the limit",
            requests_chart(data),
        ),
        _chart("progress", "Rows done, and the ETA as it was", progress_chart(data)),
        _chart("latency", "Latency of requests", latency_chart(data, figures)),
        _chart("spend", "Tokens and dollars", spend_chart(data, figures)),
        _chart(
            "failures",
            "Failed requests by cause",
            failures_chart(causes) + _messages(causes),
        ),
    ]
    sheet = contact_sheet(data.run_dir, data.rows)
    if sheet is not None:
        parts.append(f'<section id="contact-sheet"><h2>Images</h2>{sheet}</section>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _chart(key: str, title: str, body: str) -> str:
    return (
        f'<section class="chart-section" id="chart-{key}"><h2>{html.escape(title)}</h2>'
        f'<figure class="chart">{body}</figure></section>'
    )


def key_strip_items(figures: KeyFigures) -> list[tuple[str, str, str]]:
    """(key, value, label) of the key figures, as the report's header and the terminal summary show them."""
    lat = figures.latency_ms
    items = [
        ("rows_per_min", _rate(figures.rows_per_min), "rows per minute"),
        ("requests_per_min", _rate(figures.requests_per_min), "requests per minute"),
        ("latency", f"{_ms(lat['p50'])} / {_ms(lat['p99'])}", "latency p50 / p99"),
        ("rate_limited", f"{figures.rate_limited:,}", "429s (rate limited)"),
        ("cost_usd", f"${figures.cost_usd:,.4f}", "cost of the rows"),
    ]
    split = ", ".join(
        f"{kind} ${value:,.4f}" for kind, value in figures.cost_by_kind.items() if value
    )
    if split:
        items.append(("cost_by_kind", split, "cost by kind"))
    return items


def _key_strip(figures: KeyFigures) -> str:
    cells = "".join(
        f'<div data-key="{key}"{_WIDE if key == "cost_by_kind" else ""}><b>{html.escape(value)}</b><span>{html.escape(label)}</span></div>'
        for key, value, label in key_strip_items(figures)
    )
    return f'<div class="keys" id="key-figures">{cells}</div>'


def _rate(value: float | None) -> str:
    return "?" if value is None else f"{value:,.1f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def flatten(summary: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """summary.json's figures as (dotted key, value): what the header table shows, one row each."""
    for key, value in summary.items():
        if key in _NOT_FIGURES:
            continue
        if isinstance(value, Mapping):
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _summary_table(status: Mapping[str, Any]) -> str:
    rows = []
    for key, value in flatten(status):
        shown = _value(value)
        raw = html.escape("" if value is None else str(value))
        rows.append(
            f'<tr><th>{html.escape(key)}</th><td class="n" data-key="{html.escape(key)}" '
            f'data-value="{raw}">{html.escape(shown)}</td></tr>'
        )
    half = (len(rows) + 1) // 2
    return (
        f'<div class="cols"><table>{"".join(rows[:half])}</table>'
        f"<table>{''.join(rows[half:])}</table></div>"
    )


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6f}".rstrip("0").rstrip(".") if value else "0"
    if isinstance(value, list | dict):
        return str(value)
    return str(value)


def _messages(causes: list[Any]) -> str:
    if not causes:
        return ""
    rows = []
    for cause in causes:
        for message, count in cause.messages:
            rows.append(
                f"<tr><td>{html.escape(cause.code)}</td><td class='n'>{count:,}</td>"
                f"<td>{html.escape(message)}</td></tr>"
            )
    return (
        '<table class="msgs" id="failure-messages"><tr><th>cause</th><th>requests</th>'
        f"<th>most common messages</th></tr>{''.join(rows)}</table>"
    )
