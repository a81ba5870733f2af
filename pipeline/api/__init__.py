"""The Python API, and what the `pipeline` command shares with it.

`pipeline/__init__` re-exports the public part lazily (`load_job`, `run`, `run_async`, `estimate`, `JobResult`,
`exit_code`); the CLI also uses the one exit-code map, the embedded emulator's start-up, `run_spec` and the
progress line from here.
"""

from __future__ import annotations

from ._api import (
    Engine,
    JobLike,
    JobResult,
    cancel,
    estimate,
    load_job,
    run,
    run_async,
    run_spec,
)
from ._embedded import embedded_emulator, emulator_notice, running_emulator
from ._exits import (
    EXIT_INTERRUPTED,
    EXIT_NOT_ALL_OK,
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_USAGE,
    exit_code,
)
from ._progress import LOG_EVERY_S, LoggedProgress, one_line, progress_line

__all__ = (
    "EXIT_INTERRUPTED",
    "EXIT_NOT_ALL_OK",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "LOG_EVERY_S",
    "Engine",
    "JobLike",
    "JobResult",
    "LoggedProgress",
    "cancel",
    "embedded_emulator",
    "emulator_notice",
    "estimate",
    "exit_code",
    "load_job",
    "one_line",
    "progress_line",
    "run",
    "run_async",
    "run_spec",
    "running_emulator",
)
