"""The figures of one tool in one scenario: the ledger's (ground truth) and the client's.

From the ledger: requests and their statuses, 429s sent, peak in flight, requests per row id (from
`requests_by_body`, whose excerpts start with the row id), replies paid more than once, tokens billed, and the
admitted requests in the busiest rolling window (from the samples taken while the tool ran). From the client:
wall time, time to first request, CPU seconds, peak RSS (the larger of the sampled tree RSS and the largest
process's VmHWM), and rows ok / failed / missing from the tool's outcomes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from .data import id_of
from .monitor import Sample, Watched


@dataclass(slots=True)
class Figures:
    """One tool's figures for one scenario (JSON-serialisable with `asdict`)."""

    tool: str
    scenario: str
    finished: bool
    exit_codes: list[int]
    wall_s: float
    ttfr_s: float | None
    cpu_s: float
    peak_rss_mb: float
    rows: int
    rows_ok: int
    rows_failed: int
    rows_missing: int
    requests: int
    statuses: dict[str, int]
    rate_limited: int
    peak_in_flight: int
    tokens_billed: int
    tokens_lost: int
    ids_seen: int
    max_requests_per_id: int
    mean_requests_per_id: float
    ids_sent_more_than_once: int
    replies_paid_twice: int
    duplicate_tokens_est: int
    peak_window_admitted: int | None
    rows_per_min: float
    killed_at_s: float | None
    samples: list[dict[str, float]] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    stderr_tail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figures:
        return cls(**data)


def figures(
    tool: str,
    scenario: str,
    rows: int,
    watched: Watched,
    ledger: dict[str, Any],
    outcomes: dict[str, bool],
    window_s: float | None,
) -> Figures:
    statuses: dict[str, int] = defaultdict(int)
    for by_status in ledger.get("requests_by_route", {}).values():
        for status, count in by_status.items():
            statuses[status] += int(count)
    per_id: dict[str, int] = defaultdict(int)
    ok_per_id: dict[str, int] = defaultdict(int)
    for body in ledger.get("requests_by_body", []):
        row = id_of(body.get("excerpt", ""))
        if row is None:
            continue
        per_id[row] += int(body["count"])
        ok_per_id[row] += int(body["ok"])
    ok_replies = sum(ok_per_id.values())
    paid_twice = sum(max(0, n - 1) for n in ok_per_id.values())
    tokens = sum(int(v) for v in ledger.get("tokens", {}).values())
    lost = sum(int(v) for v in ledger.get("tokens_lost", {}).values())
    attempts = watched.attempts
    wall = sum(a.wall_s for a in attempts)
    rows_ok = sum(1 for ok in outcomes.values() if ok)
    sending = max(1e-9, wall - (watched.ttfr_s or 0.0))
    peak_rss = max([*watched.peak_by_pid.values(), *(mb for _, mb in watched.rss), 0.0])
    return Figures(
        tool=tool,
        scenario=scenario,
        finished=not any(a.capped for a in attempts),
        exit_codes=[a.returncode for a in attempts],
        wall_s=round(wall, 2),
        ttfr_s=round(watched.ttfr_s, 3) if watched.ttfr_s is not None else None,
        cpu_s=round(sum(a.cpu_s for a in attempts), 2),
        peak_rss_mb=round(peak_rss, 1),
        rows=rows,
        rows_ok=rows_ok,
        rows_failed=sum(1 for ok in outcomes.values() if not ok),
        rows_missing=max(0, rows - len(outcomes)),
        requests=int(ledger.get("requests", 0)),
        statuses=dict(sorted(statuses.items())),
        rate_limited=int(ledger.get("rate_limited", 0)),
        peak_in_flight=int(ledger.get("peak_in_flight", 0)),
        tokens_billed=tokens,
        tokens_lost=lost,
        ids_seen=len(per_id),
        max_requests_per_id=max(per_id.values(), default=0),
        mean_requests_per_id=round(sum(per_id.values()) / len(per_id), 3)
        if per_id
        else 0.0,
        ids_sent_more_than_once=sum(1 for n in per_id.values() if n > 1),
        replies_paid_twice=paid_twice,
        duplicate_tokens_est=round(tokens * paid_twice / ok_replies)
        if ok_replies
        else 0,
        peak_window_admitted=peak_admitted(
            [Sample(0.0, 0, 0, 0), *watched.samples], window_s
        )
        if window_s
        else None,
        rows_per_min=round(rows_ok / sending * 60.0, 1),
        killed_at_s=watched.killed_at_s,
        samples=[_sample_json(s) for s in watched.samples],
        rss=[(round(t, 2), round(mb, 1)) for t, mb in thin(watched.rss, 600)],
        stderr_tail=attempts[-1].stderr_tail if attempts else "",
    )


def thin(points: list[tuple[float, float]], most: int) -> list[tuple[float, float]]:
    """At most about `most` points, evenly spaced, always keeping the peak (the plots need no more)."""
    if len(points) <= most:
        return list(points)
    step = -(-len(points) // most)
    kept = points[::step]
    peak = max(points, key=lambda point: point[1])
    return sorted({*kept, peak})


def _sample_json(sample: Sample) -> dict[str, float]:
    return {
        "t": round(sample.t, 2),
        "requests": sample.requests,
        "ok": sample.ok,
        "rate_limited": sample.rate_limited,
    }


def peak_admitted(samples: list[Sample], window_s: float) -> int | None:
    """The most requests answered other than 429 within any `window_s` span of the samples.

    The emulator counts a request against its window when it admits it and the ledger when it answers, so with
    latencies of a second or two this slightly lags the server's own count; it is a check of pacing, not a proof.
    """
    if len(samples) < 2:
        return None
    best = 0
    start = 0
    for sample in samples:
        while sample.t - samples[start].t > window_s:
            start += 1
        first = samples[start]
        admitted = (sample.requests - sample.rate_limited) - (
            first.requests - first.rate_limited
        )
        best = max(best, admitted)
    return best
