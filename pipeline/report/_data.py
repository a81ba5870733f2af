"""What a report is drawn from, read from DIR without disturbing a run that may be writing it.

The journal is opened read-only and no lock is taken (as `pipeline status` does), so a report works on a
finished run, on one that was stopped (Ctrl+C, the budget, `kill -9`) and on one still running. Only the
columns the charts need are kept per row: a million-row run costs tens of megabytes here, not its texts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.records import AttemptRecord, Usage
from pipeline.results import ENDINGS
from pipeline.store import JournalReader

from ._status import read_status

__all__ = ("RowPoint", "RunData", "read_run")


@dataclass(frozen=True, slots=True)
class RowPoint:
    """One row's latest outcome, reduced to what the charts use; times are Unix seconds."""

    id: str
    line: int | None
    status: str
    started: float | None
    finished: float | None
    latency_ms: float | None
    cost_usd: float | None
    usage: Usage
    attempts: int
    error_code: str | None
    error_message: str | None
    images: tuple[str, ...]  # paths relative to DIR
    service_tier: str | None = None


@dataclass(slots=True)
class RunData:
    """Everything one report shows: the status figures (as `pipeline status` and summary.json have them),
    the run's limits, every journaled request and every row's outcome."""

    run_dir: Path
    status: dict[str, Any]
    limits: dict[str, Any]
    model: str | None
    name: str | None
    attempts: list[AttemptRecord] = field(default_factory=list)
    rows: list[RowPoint] = field(default_factory=list)

    @property
    def input_rows(self) -> int | None:
        rows = self.status.get("rows")
        total = rows.get("total") if isinstance(rows, dict) else None
        return total if isinstance(total, int) else None


def read_run(run_dir: Path) -> RunData:
    """Read DIR's journal (read-only, no lock). Raises `OutputError` when DIR holds no run."""
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    if status.get("state") in ENDINGS:
        # read_status says "completed" for any session that wrote its summary; its `state` has how it ended
        status["ended"] = status["state"]
    reader = JournalReader.open_readonly(run_dir)
    try:
        limits = reader.load_meta("limits")
        spec = reader.load_meta("spec")
        attempts = list(reader.iter_attempts())
        rows = [_point(o) for o in reader.iter_outcomes(without_texts=True)]
    finally:
        reader.close()
    limits = limits if isinstance(limits, dict) else {}
    spec = spec if isinstance(spec, dict) else {}
    model = limits.get("model") or spec.get("provider.model")
    _tiers_from_attempts(rows, attempts)
    attempts = _with_final_requests(attempts, rows)
    return RunData(
        run_dir=run_dir,
        status=status,
        limits=limits,
        model=str(model) if model else None,
        name=str(limits.get("name") or run_dir.name),
        attempts=attempts,
        rows=rows,
    )


def _point(outcome: Any) -> RowPoint:
    return RowPoint(
        id=outcome.id,
        line=outcome.line,
        status=outcome.status,
        started=None if outcome.started_at is None else outcome.started_at.timestamp(),
        finished=None
        if outcome.finished_at is None
        else outcome.finished_at.timestamp(),
        latency_ms=outcome.latency_ms,
        cost_usd=outcome.cost_usd,
        usage=outcome.usage,
        attempts=outcome.attempts,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        images=tuple(image.path for image in outcome.images),
        # the results' `service_tier` column, once outcomes carry it
        service_tier=getattr(outcome, "service_tier", None),
    )


def _with_final_requests(
    attempts: list[AttemptRecord], rows: list[RowPoint]
) -> list[AttemptRecord]:
    """The journaled requests plus, for each row, the request that gave its reply, rebuilt from its outcome:
    the engine journals only failed requests one by one (the last one of a row is in the outcome already)."""
    journaled = {(a.row_id, a.attempt) for a in attempts}
    final: list[AttemptRecord] = []
    for row in rows:
        if (
            row.status in ("ok", "blocked", "failed", "truncated")
            and row.attempts > 0
            and row.finished is not None
            and row.latency_ms is not None
            and (row.id, row.attempts) not in journaled
        ):
            final.append(
                AttemptRecord(
                    row.id,
                    row.attempts,
                    row.finished - row.latency_ms / 1000.0,
                    row.finished,
                    row.status,  # type: ignore[arg-type]
                    200,
                    None if row.status == "ok" else row.error_code,
                    None,
                    row.service_tier,
                )
            )
    if not final:
        return attempts
    return sorted([*attempts, *final], key=lambda a: a.started_at)


def _tiers_from_attempts(rows: list[RowPoint], attempts: list[AttemptRecord]) -> None:
    """A row's served tier, when its outcome does not say, is that of its last reply."""
    served = {a.row_id: a.service_tier for a in attempts if a.result != "error"}
    if not any(served.values()):
        return
    for index, row in enumerate(rows):
        if row.service_tier is None and served.get(row.id):
            rows[index] = replace(row, service_tier=served[row.id])
