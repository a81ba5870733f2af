"""pipeline: an async batch runner for Google's Gemini models; see README.md and ../shared/CONTRACT.md.

The Python API, re-exported lazily so that `import pipeline` (and every `pipeline` command) stays cheap:

    import pipeline

    job = pipeline.load_job("jobs/summarise.toml")      # or a mapping shaped like the TOML
    result = pipeline.run(job, emulator=True)           # `await pipeline.run_async(job)` in a running loop
    print(result.exit_code, result.to_dataset().to_table().to_pandas())
"""

from __future__ import annotations

TYPE_CHECKING = (
    False  # typing.TYPE_CHECKING without importing typing (4 ms of every start-up)
)
if TYPE_CHECKING:
    from pipeline.api import (
        JobResult,
        cancel,
        estimate,
        exit_code,
        load_job,
        run,
        run_async,
    )
    from pipeline.errors import (
        BudgetExhausted,
        CredentialsError,
        DailyLimitReached,
        Detached,
        Interrupted,
        OutputError,
        PipelineError,
        RunStopped,
        SpecError,
    )
    from pipeline.estimator import Estimate
    from pipeline.report import read_status
    from pipeline.spec import JobSpec

    __version__: str

__all__ = (
    "BudgetExhausted",
    "CredentialsError",
    "DailyLimitReached",
    "Detached",
    "Estimate",
    "Interrupted",
    "JobResult",
    "JobSpec",
    "OutputError",
    "PipelineError",
    "RunStopped",
    "SpecError",
    "__version__",
    "cancel",
    "estimate",
    "exit_code",
    "load_job",
    "read_status",
    "run",
    "run_async",
)

# Where each public name lives; imported on first use.
_SOURCES = {
    "JobResult": "pipeline.api",
    "cancel": "pipeline.api",
    "estimate": "pipeline.api",
    "exit_code": "pipeline.api",
    "load_job": "pipeline.api",
    "run": "pipeline.api",
    "run_async": "pipeline.api",
    "BudgetExhausted": "pipeline.errors",
    "CredentialsError": "pipeline.errors",
    "DailyLimitReached": "pipeline.errors",
    "Detached": "pipeline.errors",
    "Interrupted": "pipeline.errors",
    "OutputError": "pipeline.errors",
    "PipelineError": "pipeline.errors",
    "RunStopped": "pipeline.errors",
    "SpecError": "pipeline.errors",
    "Estimate": "pipeline.estimator",
    "read_status": "pipeline.report",
    "JobSpec": "pipeline.spec",
}


def __getattr__(name: str) -> object:
    if name == "__version__":
        # Read on first use: importlib.metadata costs 20 ms of every command's start-up.
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("pipeline")
        except PackageNotFoundError:  # running from a checkout that was never installed
            return "0.0.0"
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(source), name)
    globals()[name] = value  # once: later look-ups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
