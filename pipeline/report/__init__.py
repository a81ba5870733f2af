"""`pipeline report DIR`: a self-contained HTML report of a run (finished, stopped or still running), and the
key figures that the terminal's closing summary shares with it."""

from __future__ import annotations

from ._data import RunData, read_run
from ._figures import KeyFigures, key_figures, percentile
from ._html import REPORT_NAME, key_strip_items, render_html, write_report

__all__ = (
    "REPORT_NAME",
    "KeyFigures",
    "RunData",
    "key_figures",
    "key_strip_items",
    "percentile",
    "read_run",
    "render_html",
    "write_report",
)
