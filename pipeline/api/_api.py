"""The Python API: the `pipeline` command's jobs, checks, runs and exit codes, called from Python.

    job = pipeline.load_job("jobs/summarise.toml")        # or a mapping shaped like the TOML
    result = pipeline.run(job, emulator=True)             # in a running event loop: await pipeline.run_async(job)
    result.exit_code, result.summary["rows"]              # what `pipeline run` would exit with and summary.json
    frame = result.to_dataset().to_table().to_pandas()

Errors follow the command line. What `pipeline run` reports with exit 2 is raised (`SpecError`,
`CredentialsError`, `OutputError`: nothing more is sent). A run that wrote its results returns, whatever its
exit code: 0 every row ok, 1 some rows not ok, 3 stopped by the budget or the daily request limit, 130
interrupted by SIGINT or SIGTERM (3 and 130 are resumable: run the same job into the same directory again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio

from pipeline.engine import RunOptions, RunResult, RunStats, output_dir, run_job
from pipeline.errors import RunStopped
from pipeline.modes.batch import CancelReport, cancel_batches, run_batch
from pipeline.modes.remote import run_remote
from pipeline.results import open_results
from pipeline.spec import JobSpec, load_spec, parse_spec
from pipeline.storage import cache_dir_for, is_url, location

from ._embedded import embedded_emulator, emulator_notice, running_emulator
from ._exits import exit_code
from ._progress import LoggedProgress

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow.dataset as ds

    from pipeline.estimator import Estimate

__all__ = (
    "JobLike",
    "JobResult",
    "cancel",
    "estimate",
    "load_job",
    "run",
    "run_async",
    "run_spec",
)

logger = logging.getLogger("pipeline")

JobLike: TypeAlias = JobSpec | str | os.PathLike[str] | Mapping[str, Any]
PathLike: TypeAlias = str | os.PathLike[str]
Display = Callable[[RunStats], AbstractAsyncContextManager[object]]


@dataclass(frozen=True, slots=True)
class JobResult:
    """How a run ended. `summary` is what it wrote to summary.json; `exit_code` is `pipeline run`'s."""

    out_dir: Path
    summary: dict[str, object]
    exit_code: int
    # Why it stopped early (exit code 3 or 130); None when every row was attempted.
    stopped: RunStopped | None = None

    def to_dataset(self) -> ds.Dataset:
        """The results, one row per input row, as a `pyarrow.dataset.Dataset` (`.to_table().to_pandas()`)."""
        return open_results(self.out_dir)


def load_job(
    job: JobLike, *, base_dir: PathLike | None = None, name: str | None = None
) -> JobSpec:
    """A validated job from a TOML file's path, or from a mapping with the same structure as the TOML.

    A mapping's relative paths resolve against `base_dir` (default: the current directory), and `name` is its
    name when it has no `name` key (default "job"); a file's paths resolve against the file and its name
    defaults to the file's stem. A `JobSpec` is returned as it is.

    :raises SpecError: as `pipeline run` would report it (exit 2), naming the file (if any) and the key.
    """
    if isinstance(job, JobSpec):
        return job
    if isinstance(job, Mapping):
        return parse_spec(
            job, base_dir=Path.cwd() if base_dir is None else base_dir, name=name
        )
    if isinstance(job, (str, os.PathLike)):
        if base_dir is not None or name is not None:
            raise TypeError(
                "base_dir and name apply to a mapping; a job file's paths are relative to the file "
                "and its name is its `name` key or its stem"
            )
        return load_spec(Path(job))
    raise TypeError(
        f"expected a path to a TOML job spec or a mapping, got {type(job).__name__}"
    )


def run(
    job: JobLike,
    out: PathLike | None = None,
    emulator: bool = False,
    quiet: bool = True,
    *,
    retry_failed: bool = False,
    limit: int | None = None,
    allow_spec_change: bool = False,
    grace_s: float = 30.0,
    environ: Mapping[str, str] | None = None,
    mode: str | None = None,
    detach: bool = False,
) -> JobResult:
    """Run (or resume) `job` into `out` as `pipeline run` does, in an event loop of its own; see `run_async`.

    From the main thread, SIGINT and SIGTERM stop the run as they stop `pipeline run` (exit code 130).
    :raises RuntimeError: when called from a running event loop (use `await run_async(...)` there).
    """
    _refuse_running_loop("pipeline.run()", "await pipeline.run_async(...)")
    return anyio.run(
        partial(
            _run,
            job,
            out,
            emulator=emulator,
            quiet=quiet,
            retry_failed=retry_failed,
            limit=limit,
            allow_spec_change=allow_spec_change,
            grace_s=grace_s,
            environ=environ,
            mode=mode,
            detach=detach,
            handle_signals=threading.current_thread() is threading.main_thread(),
        )
    )


async def run_async(
    job: JobLike,
    out: PathLike | None = None,
    emulator: bool = False,
    quiet: bool = True,
    *,
    retry_failed: bool = False,
    limit: int | None = None,
    allow_spec_change: bool = False,
    grace_s: float = 30.0,
    environ: Mapping[str, str] | None = None,
    mode: str | None = None,
    detach: bool = False,
) -> JobResult:
    """Run (or resume) `job` into `out` inside the running event loop; returns how it ended.

    :param job: a `JobSpec`, or what `load_job` takes.
    :param out: the run directory; default: the spec's `[output] dir`, else `./out/<name>`.
    :param emulator: start the bundled emulator and run against it, as `pipeline run --emulator` does.
    :param quiet: False logs the run's progress through the `pipeline` logger at INFO (the line `pipeline run`
        shows, every 5 s, then the summary table), to stderr when logging is not configured.
    :param retry_failed, limit, allow_spec_change, grace_s: as `--retry-failed`, `--limit`,
        `--allow-spec-change` and `--grace` of `pipeline run`.
    :param environ: where API keys are read from (default: `os.environ`).
    :param mode: "online" or "batch" overrides the spec's `mode`, as `--mode` does.
    :param detach: batch mode: return once every row is in a submitted job (exit code 3, `stopped` is
        `Detached`); running again collects them, as `--detach` does.
    :raises SpecError, CredentialsError, OutputError: what `pipeline run` exits 2 for.

    Signals are the caller's here: to stop the run, cancel the task; what was journaled is kept, and running
    the job again resumes it.
    """
    return await _run(
        job,
        out,
        emulator=emulator,
        quiet=quiet,
        retry_failed=retry_failed,
        limit=limit,
        allow_spec_change=allow_spec_change,
        grace_s=grace_s,
        environ=environ,
        mode=mode,
        detach=detach,
        handle_signals=False,
    )


def estimate(
    job: JobLike,
    count_tokens: bool = False,
    emulator: bool = False,
    *,
    environ: Mapping[str, str] | None = None,
) -> Estimate:
    """Check `job`'s spec, rows and media and estimate its tokens and cost, as `pipeline estimate` does.

    Sends nothing unless `count_tokens` (then the provider's countTokens; with `emulator`, the bundled
    emulator's). Runs an event loop of its own: from async code, `await anyio.to_thread.run_sync(...)` it.
    :raises SpecError, CredentialsError: what `pipeline estimate` exits 2 for.
    """
    _refuse_running_loop(
        "pipeline.estimate()",
        "await anyio.to_thread.run_sync(pipeline.estimate, job)",
    )
    # On first use, so that `pipeline run` does not pay for importing the estimate.
    from pipeline.estimator import estimate_job

    spec = load_job(job)
    if not (emulator and count_tokens):
        return estimate_job(spec, count_tokens=count_tokens, environ=environ)
    with embedded_emulator() as base_url:
        return estimate_job(spec, count_tokens=True, environ=environ, base_url=base_url)


# A whole run of a spec, e.g. sharded over a cluster: (spec, options, stats) -> its result.
Engine = Callable[[JobSpec, RunOptions, RunStats], Awaitable[RunResult]]


def cancel(
    run_dir: PathLike,
    *,
    environ: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> CancelReport:
    """Cancel the batch jobs of the run in `run_dir` that are still running, as `pipeline cancel DIR` does.

    The rows they did not answer stay pending (a later run sends them again); running the job again with
    `mode="batch"` collects what they did answer. Works while a run is attached to them (that run collects).
    :param environ: where the run's API key is read from (default: `os.environ`).
    :param base_url: where the provider is, when it moved since the run (e.g. another emulator).
    :raises OutputError: DIR holds no batch-mode run. :raises CredentialsError: the key is not set.
    """
    _refuse_running_loop("pipeline.cancel()", "await anyio.to_thread.run_sync(...)")
    env = dict(os.environ) if environ is None else environ
    return anyio.run(partial(cancel_batches, Path(run_dir), env, base_url=base_url))


async def run_spec(
    spec: JobSpec,
    options: RunOptions,
    *,
    emulator: bool = False,
    stats: RunStats | None = None,
    display: Display | None = None,
    announce: Callable[[str], None] | None = None,
    destination: str | None = None,
    engine: Engine | None = None,
    checkpoint_s: float = 30.0,
    detach: bool = False,
) -> JobResult:
    """One run as `pipeline run` and `pipeline.run()` both do it: the emulator first when asked (`announce`
    says so), then the run under `display(stats)`, then the exit code. Errors are the run's.

    The run is `run_job` into `options.out_dir`; `run_batch` when the spec's mode is "batch" (`detach`: return
    once every row is in a submitted job); with `destination` (an object-storage URL) `run_remote`, which works
    in `options.out_dir` as its local cache and checkpoints there every `checkpoint_s`; `engine` replaces them
    (the CLI's `--ray`, whose package sits above this one)."""
    stats = RunStats() if stats is None else stats
    async with AsyncExitStack() as stack:
        if emulator:
            base_url = await stack.enter_async_context(running_emulator())
            if announce is not None:
                announce(emulator_notice(base_url))
            options = replace(options, base_url=base_url)
        if display is not None:
            await stack.enter_async_context(display(stats))
        if engine is not None:
            result = await engine(spec, options, stats)
        elif spec.mode == "batch":
            result = await run_batch(spec, options, stats=stats, detach=detach)
        elif destination is not None:
            result = await run_remote(
                spec, options, destination, checkpoint_s=checkpoint_s, stats=stats
            )
        else:
            result = await run_job(spec, options, stats=stats)
    return JobResult(
        out_dir=result.out_dir,
        summary=result.summary,
        exit_code=exit_code(result),
        stopped=result.stopped,
    )


async def _run(
    job: JobLike,
    out: PathLike | None,
    *,
    emulator: bool,
    quiet: bool,
    retry_failed: bool,
    limit: int | None,
    allow_spec_change: bool,
    grace_s: float,
    environ: Mapping[str, str] | None,
    mode: str | None,
    detach: bool,
    handle_signals: bool,
) -> JobResult:
    spec = load_job(job).with_mode(mode)
    target = output_dir(
        spec, None if out is None else (str(out) if is_url(str(out)) else Path(out))
    )
    destination = (
        target if isinstance(target, str) else None
    )  # s3://, gs://: run_remote
    options = RunOptions(
        out_dir=cache_dir_for(location(target)) if destination else Path(target),
        retry_failed=retry_failed,
        limit=limit,
        allow_spec_change=allow_spec_change,
        grace_s=grace_s,
        handle_signals=handle_signals,
    )
    if environ is not None:
        options = replace(options, environ=environ)
    if quiet:
        return await run_spec(
            spec, options, emulator=emulator, destination=destination, detach=detach
        )
    from pipeline.report import read_status, render_status

    with _logging_to_stderr():
        result = await run_spec(
            spec,
            options,
            emulator=emulator,
            display=lambda stats: LoggedProgress(stats, logger),
            announce=logger.info,
            destination=destination,
            detach=detach,
        )
        for line in render_status(read_status(result.out_dir)).splitlines():
            logger.info("%s", line)
        logger.info(
            "results: %s   summary: %s",
            result.out_dir / "results",
            result.out_dir / "summary.json",
        )
        if result.stopped is not None:
            logger.warning(
                "stopped: %s; run the job into %s again to resume",
                result.stopped,
                result.out_dir,
            )
    return result


@contextmanager
def _logging_to_stderr() -> Iterator[None]:
    """INFO records of the `pipeline` logger reach stderr for the block, unless logging is configured already."""
    if logger.hasHandlers():
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _refuse_running_loop(call: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{call} runs an event loop of its own and cannot be called from a running one; use {instead} "
        "instead"
    )
