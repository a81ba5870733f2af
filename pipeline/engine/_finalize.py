"""The end of every session: the journal replayed into DIR/results/ and DIR/summary.json.

The results always hold exactly one row per input id. When a session stops early (Ctrl+C, the budget, the daily
limit, a refused key), the ids that have no outcome yet are written as `pending` rows, so a reader of the dataset
sees the whole job and what is left; the next run sends exactly those rows.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio

from pipeline.errors import (
    BudgetExhausted,
    DailyLimitReached,
    Detached,
    OutputError,
    ProviderQuotaUsedUp,
    RunRefused,
    RunStopped,
)
from pipeline.input import iter_rows
from pipeline.records import Outcome
from pipeline.results import ResultColumns, build_summary, write_results, write_summary
from pipeline.spec import JobSpec
from pipeline.store import RunJournal

from ._cache import CACHE_META
from ._progress import RunStats


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """How the session ended, for the summary."""

    fingerprint: str
    wall_start: float
    stopped: RunStopped | None
    complete: bool  # every input row was taken (no pending rows to add)


def with_pending(
    journal: RunJournal,
    spec: JobSpec,
    limit: int | None,
    waiting: Container[str] = (),
) -> Iterator[Outcome | ResultColumns]:
    """The journal's outcomes, then a `pending` row for every input id it does not hold yet; the ids in
    `waiting` are in batch jobs still running on the provider's side, and say so."""
    seen: set[str] = set()
    for columns in journal.iter_outcome_columns():
        seen.update(columns["id"])
        yield columns
    now = datetime.now(UTC)
    for taken, row in enumerate(iter_rows(spec)):
        if limit is not None and taken >= limit:
            return
        if row.id in seen:
            continue
        queued = row.id in waiting
        yield Outcome(
            id=row.id,
            status="pending",
            error_code="BATCH_RUNNING" if queued else "NOT_RUN",
            error_message=BATCH_RUNNING_MESSAGE
            if queued
            else "not sent yet: run the job again to resume",
            finished_at=now,
            line=row.line,
            kept={name: row.fields.get(name) for name in spec.output.keep_fields},
        )


BATCH_RUNNING_MESSAGE = (
    "in a batch job still running on the provider's side: run the job again to collect it "
    "(pipeline status DIR lists the jobs, pipeline cancel DIR cancels them)"
)


async def write_outputs(
    journal: RunJournal,
    spec: JobSpec,
    out_dir: Path,
    stats: RunStats,
    end: SessionEnd,
    limit: int | None,
    counters: SessionCounters,
    *,
    waiting: Container[str] = (),
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Rewrite the Parquet results and summary.json from the journal; returns the summary.

    Batch mode passes `waiting` (the ids in jobs still running, written as `pending` with BATCH_RUNNING) and
    `extra` (its own keys for summary.json)."""
    keep = spec.output.keep_fields

    def write() -> None:
        if end.complete:
            outcomes: Iterator[Outcome | ResultColumns] = journal.iter_outcome_columns()
        else:
            outcomes = with_pending(journal, spec, limit, waiting)
        write_results(out_dir, outcomes, keep_fields=keep)

    try:
        await anyio.to_thread.run_sync(write)
    except OSError as exc:
        raise OutputError(
            f"cannot write {out_dir / 'results'}: {exc.strerror or exc}"
        ) from exc
    sent, retries = counters.save(stats)
    input_rows = journal.load_meta("input_rows")
    summary = build_summary(
        journal.totals(),
        spec_fingerprint=end.fingerprint,
        wall_time_s=time.monotonic() - end.wall_start,
        requests_sent=sent,
        retries_by_cause=retries,
        input_rows=input_rows if isinstance(input_rows, int) else None,
        budget_usd=spec.limits.budget_usd,
        stopped=_stop_name(end.stopped),
        tier_events=counters.tier_events(stats),
        cache=_mapping(journal.load_meta(CACHE_META)),
    )
    if end.stopped is not None:
        summary["stop_reason"] = str(end.stopped)
    summary.update(extra or {})
    write_summary(out_dir, summary)
    return summary


class SessionCounters:
    """Requests and retries of all sessions of a run: the earlier sessions' (read from the journal once, at the
    start) plus this one's. Saved by the engine's periodic checkpoint too, so a kill -9 loses a few seconds of
    counts at most."""

    def __init__(self, journal: RunJournal) -> None:
        self._journal = journal
        previous = journal.load_meta("counters")
        self._sent = 0
        self._retries: dict[str, int] = {}
        self._tiers: dict[str, int] = {}
        if isinstance(previous, Mapping):
            self._sent = int(previous.get("requests_sent", 0))
            self._retries = {
                k: int(v) for k, v in dict(previous.get("retries_by_cause", {})).items()
            }
            self._tiers = {
                k: int(v) for k, v in dict(previous.get("tier_events", {})).items()
            }

    def save(self, stats: RunStats) -> tuple[int, dict[str, int]]:
        sent = self._sent + stats.requests_sent
        retries = _added(self._retries, stats.retries_by_cause)
        counters: dict[str, object] = {
            "requests_sent": sent,
            "retries_by_cause": retries,
        }
        tiers = _added(self._tiers, stats.tier_events)
        if tiers:
            counters["tier_events"] = tiers
        self._journal.save_meta("counters", counters)
        return sent, retries

    def tier_events(self, stats: RunStats) -> dict[str, int]:
        """Flex refusals and fallbacks, auto's choices: of every session of the run."""
        return _added(self._tiers, stats.tier_events)


def _added(before: Mapping[str, int], now: Mapping[str, int]) -> dict[str, int]:
    total = dict(before)
    for key, n in now.items():
        total[key] = total.get(key, 0) + n
    return total


def _mapping(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, Mapping) else None


def _stop_name(stopped: RunStopped | None) -> str | None:
    if stopped is None:
        return None
    if isinstance(stopped, BudgetExhausted):
        return "budget"
    if isinstance(stopped, DailyLimitReached):
        return "daily_limit"
    if isinstance(stopped, ProviderQuotaUsedUp):
        return "provider_quota"
    if isinstance(stopped, RunRefused):
        return "refused"
    if isinstance(stopped, Detached):
        return "detached"
    return "interrupted"
