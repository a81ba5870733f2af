"""`pipeline run`: one session, from assembled parts to the results.

assemble (credentials, provider, price: `_assemble`) -> session (reader, workers, signals, checkpoints:
`_session`, rows via `_feed`, one row's attempts in `_row`) -> finalize (journal replayed into the results and
the summary: `_finalize`). `run_job` in `_engine` joins them. Batch mode (`pipeline.modes.batch`, the layer above)
reuses `assemble` and `write_outputs`, so both modes check a job and write its results the same way.
"""

from __future__ import annotations

from ._assemble import Parts, assemble
from ._engine import collapse_errors, run_job
from ._finalize import SessionCounters, SessionEnd, write_outputs
from ._options import RunOptions, RunResult, output_dir
from ._progress import RunStats, Snapshot

__all__ = (
    "Parts",
    "RunOptions",
    "RunResult",
    "RunStats",
    "SessionCounters",
    "SessionEnd",
    "Snapshot",
    "assemble",
    "collapse_errors",
    "output_dir",
    "run_job",
    "write_outputs",
)
