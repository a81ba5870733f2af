"""`pipeline run`: one session, from assembled parts to the results.

assemble (credentials, provider, price: `_assemble`) -> session (reader, workers, signals, checkpoints:
`_session`, rows via `_feed`, one row's attempts in `_row`) -> finalize (journal replayed into the results and
the summary: `_finalize`). `run_job` in `_engine` joins them.
"""

from __future__ import annotations

from ._engine import collapse_errors, run_job
from ._options import RunOptions, RunResult, output_dir
from ._progress import RunStats, Snapshot

__all__ = (
    "RunOptions",
    "RunResult",
    "RunStats",
    "Snapshot",
    "collapse_errors",
    "output_dir",
    "run_job",
)
