"""`pipeline estimate`: checks every row and media file, sums tokens and cost."""

from __future__ import annotations

from ._job import Estimate, estimate_job, render_estimate

__all__ = (
    "Estimate",
    "estimate_job",
    "render_estimate",
)
