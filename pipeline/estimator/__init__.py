"""`pipeline estimate`: checks every row and media file, sums tokens and cost."""

from __future__ import annotations

from ._job import estimate_job, render_estimate
from ._model import Estimate

__all__ = (
    "Estimate",
    "estimate_job",
    "render_estimate",
)
