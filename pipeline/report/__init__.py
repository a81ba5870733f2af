"""What a run directory holds, read back at any time (finished, stopped or still running): `pipeline status DIR`
as text (`_status`, from the journal alone), `pipeline report DIR` as a self-contained HTML report, and the key
figures that the terminal's closing summary shares with it."""

from __future__ import annotations

from ._data import RunData, read_run
from ._figures import KeyFigures, key_figures, percentile
from ._html import REPORT_NAME, key_strip_items, render_html, write_report
from ._status import read_status, render_status

__all__ = (
    "REPORT_NAME",
    "KeyFigures",
    "RunData",
    "key_figures",
    "key_strip_items",
    "percentile",
    "read_run",
    "read_status",
    "render_html",
    "render_status",
    "write_report",
)
