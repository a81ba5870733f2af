"""`pipeline status DIR`: what a run directory holds, at any time, from its journal.

The numbers come from the journal, so they are true whatever happened to the process: a run killed with
`kill -9` has no fresh summary.json, but its status still shows every row that was journaled. Status opens the
journal read-only and takes no lock, so it works while a run is writing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.records import JournalTotals
from pipeline.results import STATUSES, SUMMARY_NAME, build_summary
from pipeline.store import JournalReader, holder_pid

__all__ = ("read_status", "render_status")

_TOKEN_KINDS = ("input", "output", "thinking", "cached", "total", "image_output")


def read_status(run_dir: Path) -> dict[str, object]:
    """What DIR holds: rows by status and pending, tokens, cost, and how its last session ended.

    Raises `OutputError` when DIR holds no run.
    """
    run_dir = Path(run_dir)
    reader = JournalReader.open_readonly(run_dir)
    try:
        totals = reader.totals()
        jobs = reader.batch_jobs()
        # The engine's counters, saved as it goes: fresher than summary.json after a crash.
        meta = {
            key: reader.load_meta(key)
            for key in ("fingerprint", "input_rows", "counters")
        }
    finally:
        reader.close()
    summary = _load_summary(run_dir)
    rows = _dict(summary.get("rows"))
    counters = _dict(meta["counters"]) or summary
    input_rows = (
        meta["input_rows"] if isinstance(meta["input_rows"], int) else rows.get("total")
    )
    requests_sent = counters.get("requests_sent")
    status = build_summary(
        totals,
        spec_fingerprint=str(meta["fingerprint"] or summary.get("spec_hash") or ""),
        wall_time_s=float(summary.get("wall_time_s") or 0.0),
        requests_sent=int(requests_sent or 0),
        retries_by_cause=_dict(counters.get("retries_by_cause")),
        input_rows=input_rows if isinstance(input_rows, int) else None,
        budget_usd=_dict(summary.get("budget")).get("limit_usd"),
        stopped=None,
    )
    status.pop("written_at")
    status["dir"] = str(run_dir)
    status["state"] = _state(run_dir, summary, totals)
    shown = [job for job in jobs if job.phase != "abandoned"]
    if shown:
        # As the run last saw them (pipeline status sends nothing): a detached run's jobs move on meanwhile.
        status["batch_jobs"] = [
            {
                "id": job.local_id,
                "name": job.remote_name,
                "phase": job.phase,
                "state": job.remote_state,
                "rows": job.rows,
                "answered": job.succeeded + job.failed,
                "failed": job.failed,
                "as_of": job.updated_at,
                "error": job.error,
            }
            for job in shown
        ]
    return status


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _load_summary(run_dir: Path) -> dict[str, Any]:
    try:
        loaded = json.loads((run_dir / SUMMARY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _state(run_dir: Path, summary: Mapping[str, Any], totals: JournalTotals) -> str:
    pid = holder_pid(run_dir)
    if pid is not None:
        return f"running (pid {pid})" if pid else "running"
    rows = summary.get("rows")
    summarised = (
        sum(rows.get(s) or 0 for s in STATUSES) if isinstance(rows, dict) else None
    )
    if summarised != totals.rows or "ended" not in summary:
        # The journal moved on after the last summary.json: that session died without finishing (kill -9).
        return (
            "stopped without a summary (crashed or killed); run the job again to resume"
        )
    return str(summary["ended"])


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def render_status(status: Mapping[str, object]) -> str:
    """`status` (from `read_status`) as a plain-text table for the terminal."""
    rows = status.get("rows")
    rows = rows if isinstance(rows, dict) else {}
    tokens = status.get("tokens")
    tokens = tokens if isinstance(tokens, dict) else {}
    counts = ", ".join(f"{rows.get(s) or 0:,} {s}" for s in STATUSES)
    total, pending = _count(rows.get("total")), _count(rows.get("pending"))
    token_counts = (f"{tokens.get(f'{k}_tokens', 0):,} {k}" for k in _TOKEN_KINDS[:5])
    cost = _number(status.get("cost_usd"))
    spent = _number(status.get("spent_usd"))
    lines = [
        ("run", str(status.get("dir", ""))),
        ("state", str(status.get("state", status.get("ended", "")))),
        ("spec hash", str(status.get("spec_hash", ""))),
        ("rows", f"{total} in input: {counts}, {pending} pending"),
        ("tokens", ", ".join(token_counts)),
        (
            "cost",
            f"${cost:,.4f} for the rows in the output, ${spent:,.4f} spent in all",
        ),
    ]
    if status.get("unpriced_rows"):
        lines.append(
            (
                "unpriced",
                f"{status['unpriced_rows']:,} rows have no price (model not in the price table)",
            )
        )
    budget = status.get("budget")
    if isinstance(budget, dict):
        lines.append(
            ("budget", f"${budget['limit_usd']:,.2f}: ${budget['left_usd']:,.4f} left")
        )
    # `requests_sent` is counted by the engine at the end of each session (a killed session's are missing);
    # the attempts behind the rows in the output come from the journal, so they survive any crash.
    sent = status.get("requests_sent") or 0
    attempts = status.get("attempts") or 0
    if sent or attempts:
        lines.append(
            (
                "requests",
                f"{sent:,} sent; the rows in the output took {attempts:,} attempts",
            )
        )
    jobs = status.get("batch_jobs")
    if isinstance(jobs, list) and jobs:
        waiting = sum(
            1 for job in jobs if job.get("phase") in ("creating", "submitted")
        )
        lines.append(
            (
                "batch jobs",
                f"{len(jobs)}, {waiting} waiting on the provider (as last seen by the run)",
            )
        )
        for job in jobs:
            lines.append(("", _job_line(job)))
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label:<{width}}  {value}".rstrip() for label, value in lines)


def _job_line(job: Mapping[str, Any]) -> str:
    name = job.get("name") or f"(create not confirmed: {job.get('id')})"
    phase = job.get("phase")
    state = job.get("state") or "PENDING"
    where = {"collected": "collected", "creating": "being created"}.get(
        str(phase), "waiting"
    )
    line = f"{name}  {state}  {job.get('answered', 0):,}/{job.get('rows', 0):,} answered, {where}"
    if job.get("failed"):
        line += f", {job['failed']:,} lines failed"
    if job.get("error") and phase == "collected":
        line += f" ({job['error']})"
    return f"{line}; as of {str(job.get('as_of', ''))[:19]}"
