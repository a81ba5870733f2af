"""The report's numbers, apart from its pictures: the key figures that both the report's header and the
closing summary in the terminal show, and the series the charts draw. Pure functions of `RunData`."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.catalog import Price, cost_usd, price_for
from pipeline.records import Usage

from ._data import RowPoint, RunData

__all__ = (
    "COST_KINDS",
    "KeyFigures",
    "cost_by_kind",
    "failure_table",
    "key_figures",
    "percentile",
)

COST_KINDS = ("input", "output", "thinking", "image")
RATE_LIMITED = 429


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) of `values`, linear between the closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class KeyFigures:
    """What the report's header and the terminal's closing summary have in common."""

    rows_done: int
    requests: int  # journaled requests (attempts)
    active_s: float  # first request sent to last outcome journaled
    rows_per_min: float | None
    requests_per_min: float | None
    latency_ms: dict[
        str, float | None
    ]  # p50, p90, p99 of the requests that got a reply
    rate_limited: int  # 429s
    cost_usd: float
    cost_by_kind: dict[
        str, float
    ]  # input, output, thinking, image: adds up to cost_usd
    cost_by_status: dict[str, float]
    cost_by_tier: dict[str, float] = field(
        default_factory=dict
    )  # only when the provider reports tiers


def key_figures(data: RunData) -> KeyFigures:
    attempts = data.attempts
    rows = data.rows
    starts = [a.started_at for a in attempts] or [
        r.started for r in rows if r.started is not None
    ]
    ends = [r.finished for r in rows if r.finished is not None] + [
        a.ended_at for a in attempts
    ]
    active = max(ends) - min(starts) if starts and ends else 0.0
    done = sum(1 for r in rows if r.status != "pending")
    latencies = [
        (a.ended_at - a.started_at) * 1000.0 for a in attempts if a.result != "error"
    ]
    if (
        not attempts
    ):  # a journal from before attempts were journaled: the rows' last latency
        latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
    by_status: dict[str, float] = {}
    by_tier: dict[str, float] = {}
    for r in rows:
        by_status[r.status] = by_status.get(r.status, 0.0) + (r.cost_usd or 0.0)
        if r.service_tier:
            by_tier[r.service_tier] = by_tier.get(r.service_tier, 0.0) + (
                r.cost_usd or 0.0
            )
    per_min = 60.0 / active if active > 0 else None
    return KeyFigures(
        rows_done=done,
        requests=len(attempts),
        active_s=active,
        rows_per_min=None if per_min is None else done * per_min,
        requests_per_min=None
        if per_min is None or not attempts
        else len(attempts) * per_min,
        latency_ms={f"p{q}": percentile(latencies, q) for q in (50, 90, 99)},
        rate_limited=sum(1 for a in attempts if a.http_status == RATE_LIMITED),
        cost_usd=sum(r.cost_usd or 0.0 for r in rows),
        cost_by_kind=cost_by_kind(rows, price_for(data.model) if data.model else None),
        cost_by_status=by_status,
        cost_by_tier=by_tier,
    )


def cost_by_kind(rows: Sequence[RowPoint], price: Price | None) -> dict[str, float]:
    """Each row's cost split by token kind at the model's list price, scaled so that the parts add up to what
    the row was charged (which also counts retries and any [pricing] override). Without a price: all input."""
    totals = dict.fromkeys(COST_KINDS, 0.0)
    for row in rows:
        charged = row.cost_usd or 0.0
        if not charged:
            continue
        parts = _split(row, price)
        whole = sum(parts.values())
        if whole <= 0:
            totals["input"] += charged
            continue
        for kind, part in parts.items():
            totals[kind] += charged * part / whole
    return totals


def _split(row: RowPoint, price: Price | None) -> dict[str, float]:
    if price is None:
        return {}
    u = row.usage
    base = Usage(input_tokens=u.input_tokens, cached_tokens=u.cached_tokens)
    image = u.image_output_tokens if price.image_output is not None else 0

    def cost(extra: Usage, images: int = 0) -> float:
        return cost_usd(base + extra, price, images=images) or 0.0

    inputs = cost(Usage())
    return {
        "input": inputs,
        "output": cost(Usage(output_tokens=max(0, u.output_tokens - image))) - inputs,
        "thinking": cost(Usage(thinking_tokens=u.thinking_tokens)) - inputs,
        "image": cost(
            Usage(output_tokens=image, image_output_tokens=image), len(row.images)
        )
        - inputs,
    }


@dataclass(frozen=True, slots=True)
class Cause:
    """Failed requests of one cause: retried (another attempt followed) and final (the row failed with it)."""

    code: str
    retried: int
    final: int
    messages: list[tuple[str, int]]  # the most common messages, with their counts


def failure_table(data: RunData, top: int = 3) -> list[Cause]:
    """Every cause of a failed request or row, most frequent first."""
    last_attempt: dict[str, int] = {}
    for index, a in enumerate(data.attempts):
        last_attempt[a.row_id] = index
    failed_rows = {r.id: r for r in data.rows if r.status in ("failed", "blocked")}
    retried: Counter[str] = Counter()
    final: Counter[str] = Counter()
    messages: dict[str, Counter[str]] = {}
    for index, a in enumerate(data.attempts):
        if a.result != "error":
            continue
        code = a.error_code or "UNKNOWN"
        if last_attempt[a.row_id] != index:
            retried[code] += 1
        messages.setdefault(code, Counter())[_short(a.message)] += 1
    for row in failed_rows.values():
        code = row.error_code or row.status.upper()
        final[code] += 1
        if not data.attempts or row.status == "blocked" or code not in messages:
            messages.setdefault(code, Counter())[_short(row.error_message)] += 1
    codes = sorted(set(retried) | set(final), key=lambda c: -(retried[c] + final[c]))
    return [
        Cause(
            code,
            retried[code],
            final[code],
            messages.get(code, Counter()).most_common(top),
        )
        for code in codes
    ]


def _short(message: str | None, width: int = 160) -> str:
    text = " ".join((message or "(no message)").split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"
