"""The one map from how a command ended to the contract's exit codes (../shared/CONTRACT.md).

`pipeline run` exits with it and `pipeline.run()` reports it as `JobResult.exit_code`, so a script and the
command line always agree: 0 every row ok; 1 finished with rows not ok; 2 bad usage, an invalid spec, refused
credentials, an unusable output directory, or the provider refusing the whole run (nothing more sent); 3 stopped
by the budget, the daily request limit or the provider's daily quota (resumable); 130 interrupted (resumable).
Each `RunStopped` carries its own code.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.engine import RunResult
from pipeline.errors import (
    CredentialsError,
    OutputError,
    PipelineError,
    RunStopped,
    SpecError,
)

__all__ = (
    "EXIT_INTERRUPTED",
    "EXIT_NOT_ALL_OK",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "exit_code",
)

EXIT_OK, EXIT_NOT_ALL_OK, EXIT_USAGE, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def exit_code(outcome: RunResult | BaseException) -> int:
    """The exit code of a run that ended with `outcome`: its result, or the exception it raised."""
    if isinstance(outcome, (SpecError, CredentialsError, OutputError)):
        return EXIT_USAGE
    if isinstance(outcome, RunStopped):
        return (
            outcome.exit_code
        )  # budget, daily limit, provider quota: 3; refused: 2; interrupted: 130
    if isinstance(outcome, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(outcome, BaseException):
        return EXIT_USAGE if isinstance(outcome, PipelineError) else EXIT_NOT_ALL_OK
    if outcome.stopped is not None:
        return exit_code(outcome.stopped)
    rows = outcome.summary.get("rows")
    if isinstance(rows, Mapping):
        not_ok = sum(
            int(n)
            for status, n in rows.items()
            if status not in ("ok", "total") and isinstance(n, int)
        )
        return EXIT_OK if not_ok == 0 else EXIT_NOT_ALL_OK
    return EXIT_NOT_ALL_OK
