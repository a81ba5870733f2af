"""`pipeline run`: one session from assembled parts to the results."""

from __future__ import annotations

from ._engine import RunOptions, RunResult, output_dir, run_job
from ._progress import RunStats, Snapshot

__all__ = (
    "RunOptions",
    "RunResult",
    "RunStats",
    "Snapshot",
    "output_dir",
    "run_job",
)
