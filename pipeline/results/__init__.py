"""What a reader of DIR sees: the Parquet results, the image files and summary.json."""

from __future__ import annotations

from ._files import remove_image_leftovers
from ._parquet import (
    ResultColumns,
    open_results,
    read_results,
    write_image,
    write_results,
)
from ._summary import ENDINGS, STATUSES, SUMMARY_NAME, build_summary, write_summary

__all__ = (
    "ENDINGS",
    "STATUSES",
    "SUMMARY_NAME",
    "ResultColumns",
    "build_summary",
    "open_results",
    "read_results",
    "remove_image_leftovers",
    "write_image",
    "write_results",
    "write_summary",
)
