"""`pipeline estimate JOB --pilot N`: send a stratified sample of N rows for real, then project the job.

The pilot is a real run of those rows into the job's run directory (`run_job` with `only_ids`), journaled like
any run: the full run that follows skips them, so nothing the pilot bought is bought again. What it measures
comes back from the journal: each row's cost, tokens and finish, each request's latency and 429s.

Usage::

    plan = plan_pilot(spec, 100)                       # reads every row: the sample and the static estimate
    anyio.run(run_job, spec, plan.run_options(out_dir))  # or `run_pilot(spec, 100, out_dir)` for all three
    print(render_pilot(project_pilot(spec, plan, out_dir)))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anyio

from pipeline.engine import RunOptions, run_job
from pipeline.estimator import Estimate, estimate_job
from pipeline.report import percentile as _percentile
from pipeline.report import read_run
from pipeline.spec import JobSpec
from pipeline.store import JournalReader

from ._project import (
    CostProjection,
    WallTime,
    duration,
    project_cost,
    project_wall_time,
)
from ._sample import Sample, draw_sample

__all__ = (
    "PilotPlan",
    "PilotReport",
    "plan_pilot",
    "project_pilot",
    "render_pilot",
    "run_pilot",
)

SCHEMA_CODES = ("SCHEMA_MISMATCH", "INVALID_JSON")


@dataclass(frozen=True, slots=True)
class PilotPlan:
    sample: Sample
    static: Estimate
    seed: int = 0

    def run_options(self, out_dir: Path, *, base_url: str | None = None) -> RunOptions:
        return RunOptions(out_dir=out_dir, base_url=base_url, only_ids=self.sample.ids)


@dataclass(frozen=True, slots=True)
class PilotReport:
    """What the pilot measured and what it projects for the whole job."""

    job: str
    model: str
    rows: int  # valid rows of the job
    pilot_rows: int  # sampled rows that have an outcome
    strata: int
    spent_usd: float  # what the pilot's rows cost
    cost: CostProjection | None  # None: the model has no price
    static_low_usd: float | None
    static_high_usd: float | None
    rates: dict[
        str, float
    ]  # blocked, truncated, schema_failed, failed: shares of the pilot's rows
    output_tokens_per_row: float
    thinking_tokens_per_row: float
    input_tokens_per_row: float
    latency_ms: dict[str, float | None]
    rate_limited: int  # 429s during the pilot
    attempts_per_row: float
    wall: WallTime
    notes: list[str] = field(default_factory=list)


def plan_pilot(spec: JobSpec, n: int, *, seed: int = 0) -> PilotPlan:
    """Read the job (sends nothing): the stratified sample and the static estimate the projection starts from."""
    static = estimate_job(spec)
    return PilotPlan(draw_sample(spec, n, seed), static, seed)


def run_pilot(
    spec: JobSpec, n: int, out_dir: Path, *, seed: int = 0, base_url: str | None = None
) -> PilotReport:
    """Plan, run and project a pilot of `n` rows into `out_dir` (the job's run directory)."""
    plan = plan_pilot(spec, n, seed=seed)
    options = plan.run_options(out_dir, base_url=base_url)
    anyio.run(lambda: run_job(spec, options))
    return project_pilot(spec, plan, out_dir)


def project_pilot(spec: JobSpec, plan: PilotPlan, out_dir: Path) -> PilotReport:
    """Read what the pilot's rows did from the journal and project the whole job."""
    ids = plan.sample.ids
    cost_of: dict[str, float] = {}
    counts = dict.fromkeys(("blocked", "truncated", "schema_failed", "failed"), 0)
    output = thinking = inputs = 0
    reader = JournalReader.open_readonly(out_dir)
    try:
        for outcome in reader.iter_outcomes(without_texts=True):
            if outcome.id not in ids or outcome.status == "pending":
                continue
            cost_of[outcome.id] = outcome.cost_usd or 0.0
            counts["blocked"] += outcome.status == "blocked"
            counts["failed"] += outcome.status == "failed"
            counts["truncated"] += outcome.finish_reason == "MAX_TOKENS"
            counts["schema_failed"] += outcome.error_code in SCHEMA_CODES
            output += outcome.usage.output_tokens
            thinking += outcome.usage.thinking_tokens
            inputs += outcome.usage.input_tokens
    finally:
        reader.close()
    attempts = [a for a in read_run(out_dir).attempts if a.row_id in ids]
    done = len(cost_of)
    per_row = 1.0 / done if done else 0.0
    latencies = [
        (a.ended_at - a.started_at) * 1000.0 for a in attempts if a.result != "error"
    ]
    static = plan.static
    valid = plan.sample.valid_rows
    priced = static.cost_low_usd is not None and static.cost_high_usd is not None
    cost = None
    if priced and valid:
        cost = project_cost(
            plan.sample,
            cost_of,
            static_row_low=(static.cost_low_usd or 0.0) / valid,
            static_row_high=(static.cost_high_usd or 0.0) / valid,
            seed=plan.seed,
        )
    attempts_per_row = len(attempts) * per_row if attempts else 1.0
    mean_latency = sum(latencies) / len(latencies) / 1000.0 if latencies else 0.0
    limits = spec.limits
    remaining = max(0, valid - done)
    input_per_row = inputs * per_row if done else static.input_tokens / max(1, valid)
    wall = project_wall_time(
        requests=remaining * attempts_per_row,
        input_tokens=remaining * attempts_per_row * input_per_row,
        mean_latency_s=mean_latency,
        concurrency=limits.concurrency,
        requests_per_minute=limits.requests_per_minute,
        tokens_per_minute=limits.tokens_per_minute,
        requests_per_day=limits.requests_per_day,
    )
    notes = []
    if done < len(ids):
        notes.append(
            f"{len(ids) - done} of the {len(ids)} sampled rows have no outcome (the pilot stopped early)"
        )
    if cost is not None and cost.unsampled_rows:
        notes.append(
            f"{cost.unsampled_rows:,} rows are in strata the pilot did not reach: priced at the static estimate"
        )
    return PilotReport(
        job=spec.name,
        model=spec.provider.model,
        rows=valid,
        pilot_rows=done,
        strata=len(plan.sample.strata),
        spent_usd=sum(cost_of.values()),
        cost=cost,
        static_low_usd=static.cost_low_usd,
        static_high_usd=static.cost_high_usd,
        rates={k: v * per_row for k, v in counts.items()},
        output_tokens_per_row=output * per_row,
        thinking_tokens_per_row=thinking * per_row,
        input_tokens_per_row=input_per_row,
        latency_ms={f"p{q}": _percentile(latencies, q) for q in (50, 90, 99)},
        rate_limited=sum(1 for a in attempts if a.http_status == 429),
        attempts_per_row=attempts_per_row,
        wall=wall,
        notes=notes,
    )


def render_pilot(report: PilotReport) -> str:
    """The pilot's findings as plain text for the terminal."""
    lines: list[tuple[str, str]] = [
        ("job", f"{report.job} ({report.model}): {report.rows:,} rows"),
        (
            "pilot",
            f"{report.pilot_rows:,} rows sent from {report.strata} strata; they cost ${report.spent_usd:,.4f}",
        ),
    ]
    if report.cost is not None:
        c = report.cost
        lines.append(
            (
                "cost",
                (
                    f"${c.point_usd:,.2f} for the whole job (95% interval ${c.low_usd:,.2f} to ${c.high_usd:,.2f}); "
                    f"${max(0.0, c.point_usd - report.spent_usd):,.2f} still to spend"
                ),
            )
        )
        lines.append(
            (
                "static",
                f"${report.static_low_usd or 0:,.2f} to ${report.static_high_usd or 0:,.2f} (without sending)",
            )
        )
    else:
        lines.append(
            ("cost", "no price is known for this model: add a [pricing] table")
        )
    r = report.rates
    lines += [
        (
            "per row",
            (
                f"{report.input_tokens_per_row:,.0f} input, {report.output_tokens_per_row:,.0f} output and "
                f"{report.thinking_tokens_per_row:,.0f} thinking tokens; {report.attempts_per_row:.2f} requests"
            ),
        ),
        (
            "rates",
            (
                f"blocked {r['blocked']:.1%}, truncated (MAX_TOKENS) {r['truncated']:.1%}, "
                f"schema failures {r['schema_failed']:.1%}, failed {r['failed']:.1%}"
            ),
        ),
        (
            "latency",
            " / ".join(f"{k} {_ms(v)}" for k, v in report.latency_ms.items())
            + f"; {report.rate_limited:,} 429s",
        ),
        (
            "wall time",
            ", ".join(
                f"{k} {duration(v)}"
                for k, v in sorted(report.wall.by_limit.items(), key=lambda kv: -kv[1])
            ),
        ),
        ("verdict", report.wall.verdict),
    ]
    lines += [("note", note) for note in report.notes]
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in lines)


def _ms(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
