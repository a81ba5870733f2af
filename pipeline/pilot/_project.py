"""From a pilot's measured rows to the whole job: cost with an interval, rates, and wall time under the
job's limits, with a verdict in plain words. Pure functions; `_pilot` gathers their inputs."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._sample import Sample

__all__ = ("CostProjection", "WallTime", "project_cost", "project_wall_time")

BOOTSTRAP_ROUNDS = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class CostProjection:
    """The whole job's cost: the stratified estimate from the pilot's rows and a bootstrap interval.

    Strata the pilot did not reach (a sample smaller than the number of strata) are priced with the static
    estimate's per-row range instead, which widens the interval by that range."""

    point_usd: float
    low_usd: float
    high_usd: float
    unsampled_rows: int = 0  # rows in strata the pilot did not reach


def project_cost(
    sample: Sample,
    cost_of: Mapping[str, float],
    *,
    static_row_low: float,
    static_row_high: float,
    seed: int = 0,
    rounds: int = BOOTSTRAP_ROUNDS,
) -> CostProjection:
    """`cost_of`: the measured cost of each pilot row that got an outcome (0.0 for rows that cost nothing)."""
    measured: list[tuple[int, list[float]]] = []
    fixed_point = fixed_low = fixed_high = 0.0
    unsampled = 0
    for stratum in sample.strata:
        costs = [cost_of[i] for i in stratum.sampled if i in cost_of]
        if costs:
            measured.append((stratum.rows, costs))
        else:
            unsampled += stratum.rows
            fixed_low += stratum.rows * static_row_low
            fixed_high += stratum.rows * static_row_high
            fixed_point += stratum.rows * (static_row_low + static_row_high) / 2
    point = fixed_point + sum(rows * sum(c) / len(c) for rows, c in measured)
    rng = random.Random(seed)
    totals = []
    for _ in range(rounds if measured else 0):
        total = 0.0
        for rows, costs in measured:
            k = len(costs)
            total += rows * sum(costs[int(rng.random() * k)] for _ in range(k)) / k
        totals.append(total)
    totals.sort()
    tail = (1 - CONFIDENCE) / 2
    low = _at(totals, tail) if totals else 0.0
    high = _at(totals, 1 - tail) if totals else 0.0
    # a bootstrap of few rows per stratum is too narrow: never narrower than a t-interval on the same rows
    t_low, t_high = _t_interval(measured)
    return CostProjection(
        point_usd=point,
        low_usd=fixed_low + min(low, t_low),
        high_usd=fixed_high + max(high, t_high),
        unsampled_rows=unsampled,
    )


def _at(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _t_interval(measured: Sequence[tuple[int, list[float]]]) -> tuple[float, float]:
    """Stratified mean +- 1.96 standard errors (normal approximation; strata of one row add no variance)."""
    point = sum(rows * sum(c) / len(c) for rows, c in measured)
    variance = 0.0
    for rows, costs in measured:
        k = len(costs)
        if k < 2:
            continue
        mean = sum(costs) / k
        s2 = sum((c - mean) ** 2 for c in costs) / (k - 1)
        finite = max(0.0, 1 - k / rows) if rows else 0.0
        variance += rows * rows * s2 / k * finite
    half = 1.96 * math.sqrt(variance)
    return max(0.0, point - half), point + half


@dataclass(frozen=True, slots=True)
class WallTime:
    """How long the rest of the job takes under each of its limits; the longest one binds."""

    seconds: float
    binding: str  # "concurrency and latency" | "requests_per_minute" | "tokens_per_minute" | "requests_per_day"
    by_limit: dict[str, float] = field(default_factory=dict)
    days: float | None = None  # when requests_per_day binds
    verdict: str = ""


def project_wall_time(
    *,
    requests: float,
    input_tokens: float,
    mean_latency_s: float,
    concurrency: int,
    requests_per_minute: float | None,
    tokens_per_minute: float | None,
    requests_per_day: float | None,
) -> WallTime:
    by_limit = {
        "concurrency and latency": requests * mean_latency_s / max(1, concurrency)
    }
    if requests_per_minute:
        by_limit["requests_per_minute"] = requests / requests_per_minute * 60.0
    if tokens_per_minute:
        by_limit["tokens_per_minute"] = input_tokens / tokens_per_minute * 60.0
    days = None
    if requests_per_day and requests > requests_per_day:
        days = requests / requests_per_day
        by_limit["requests_per_day"] = days * 86_400.0
    binding = max(by_limit, key=lambda k: by_limit[k])
    seconds = by_limit[binding]
    if binding == "requests_per_day" and days is not None:
        verdict = (
            f"at {requests_per_day:,.0f} requests per day this job needs {days:.1f} days "
            f"({requests:,.0f} requests)"
        )
    else:
        if binding == "requests_per_minute":
            detail = f"{requests_per_minute:,.0f} requests per minute"
        elif binding == "tokens_per_minute":
            detail = f"{tokens_per_minute:,.0f} input tokens per minute"
        else:
            detail = f"{concurrency} at a time, {mean_latency_s:.2f} s each"
        verdict = f"this job needs about {duration(seconds)} ({requests:,.0f} requests at {detail})"
    return WallTime(seconds, binding, by_limit, days, verdict)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"
