"""How to run a job beyond what its spec says, and how a session ended."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import RunStopped
from pipeline.policy import PermitSource
from pipeline.spec import JobSpec

from ._progress import RunStats

__all__ = ("RunOptions", "RunResult", "output_dir")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a job, beyond what its spec says (mostly from the command line)."""

    out_dir: Path
    retry_failed: bool = False
    limit: int | None = None
    allow_spec_change: bool = False
    base_url: str | None = None  # --emulator: where the embedded emulator listens
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    durable_journal: bool = (
        True  # benchmark-only switch: False keeps the journal in memory
    )
    grace_s: float = 30.0
    handle_signals: bool = True
    # Send only these ids (`estimate --pilot`: a sample of the job into its own run directory); the rows
    # the journal already holds are skipped as always, so the full run that follows does not pay for them again.
    only_ids: frozenset[str] | None = None
    # A quota (rate, tokens, daily requests, budget) shared with other workers (--ray); None: this run's own.
    permits: PermitSource | None = None


@dataclass(slots=True)
class RunResult:
    """How a session ended: `stopped` is None when every row was attempted."""

    out_dir: Path
    summary: dict[str, object]
    stats: RunStats
    stopped: RunStopped | None = None


def output_dir(spec: JobSpec, out: Path | str | None) -> Path | str:
    """--out wins, then the spec's [output] dir, then ./out/<name>; a URL (s3://...) is returned as given."""
    if out is not None:
        return out
    if spec.output.dir is not None:
        return spec.output.dir
    return Path.cwd() / "out" / spec.name
