"""`pipeline status DIR`: what a run directory holds, at any time, from its journal.

The numbers come from the journal, so they are true whatever happened to the process: a run killed with
`kill -9` has no fresh summary.json, but its status still shows every row that was journaled. Status opens the
journal read-only and takes no lock, so it works while a run is writing.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.errors import OutputError
from pipeline.records import JournalTotals
from pipeline.results import STATUSES, SUMMARY_NAME, build_summary
from pipeline.storage import Location, is_url, location
from pipeline.store import JOURNAL_NAME, JournalReader, holder_pid

# The names a remote run directory and a cluster run directory add (pipeline.modes.remote, pipeline.modes.cluster).
CHECKPOINT_META = "checkpoint.json"
SHARDS_DIR = "shards"

__all__ = ("read_status", "render_status")

_TOKEN_KINDS = ("input", "output", "thinking", "cached", "total", "image_output")


def read_status(run_dir: Path | str) -> dict[str, object]:
    """What DIR holds: rows by status and pending, tokens, cost, and how its last session ended.

    DIR may be a URL (s3://...): its last checkpoint is read. A cluster run's DIR (`pipeline run --ray`) sums
    its shards. Raises `OutputError` when DIR holds no run.
    """
    if isinstance(run_dir, str) and is_url(run_dir):
        return _remote_status(location(run_dir))
    run_dir = Path(run_dir)
    if not (run_dir / JOURNAL_NAME).is_file() and (run_dir / SHARDS_DIR).is_dir():
        return _cluster_status(location(run_dir))
    return _local_status(run_dir)


def _local_status(run_dir: Path) -> dict[str, object]:
    reader = JournalReader.open_readonly(run_dir)
    try:
        totals = reader.totals()
        jobs = reader.batch_jobs()
        # The engine's counters, saved as it goes: fresher than summary.json after a crash.
        meta = {
            key: reader.load_meta(key)
            for key in ("fingerprint", "input_rows", "counters", "cache")
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
        tier_events=_dict(_dict(meta["counters"]).get("tier_events")),
        cache=_dict(
            meta["cache"]
        ),  # the engine's context cache (engine._cache.CACHE_META)
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


def _remote_status(where: Location) -> dict[str, object]:
    if not (where / JOURNAL_NAME).is_file() and (where / SHARDS_DIR).is_dir():
        return _cluster_status(where)
    with tempfile.TemporaryDirectory(prefix="pipeline-status-") as tmp:
        local = Path(tmp)
        try:
            for name in (JOURNAL_NAME, SUMMARY_NAME, CHECKPOINT_META):
                if (where / name).is_file():
                    (where / name).download(local / name)
        except OSError as exc:
            raise OutputError(f"{where}: cannot read the run: {exc}") from exc
        if not (local / JOURNAL_NAME).is_file():
            raise OutputError(
                f"{where} holds no run (no {JOURNAL_NAME}); pass the --out directory of a run"
            )
        status = _local_status(local)
        meta = _load_json(local / CHECKPOINT_META)
    status["dir"] = str(where)
    written = meta.get("written_at")
    if meta and not meta.get("final") and isinstance(written, int | float):
        age = max(0.0, time.time() - written)
        status["state"] = (
            f"running on {meta.get('host')} or stopped without a summary (last checkpoint {age:,.0f} s ago)"
        )
    return status


def _cluster_status(where: Location) -> dict[str, object]:
    """The sum of the shards' statuses (DIR/shards/<k>/), as one run."""
    try:
        plan = json.loads((where / SHARDS_DIR / "plan.json").read_bytes())
        shards = [str(item["index"]) for item in plan["shards"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(
            f"{where}: cannot read the cluster run's shard plan: {exc}"
        ) from exc
    parts = []
    for name in shards:
        shard = where / SHARDS_DIR / name
        if not (shard / JOURNAL_NAME).is_file():
            continue
        parts.append(
            _remote_status(shard)
            if shard.is_remote
            else _local_status(Path(str(shard)))
        )
    if not parts:
        raise OutputError(f"{where} holds no run (its shards have no journal yet)")
    merged: dict[str, object] = _sum(parts)
    merged["dir"] = str(where)
    merged["spec_hash"] = parts[0].get("spec_hash")
    states = {str(part.get("state")) for part in parts}
    merged["state"] = (
        states.pop()
        if len(states) == 1
        else f"{len(parts)} shards: " + "; ".join(sorted(states))
    )
    merged["shards"] = len(parts)
    return merged


def _sum(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Numbers added up key by key (nested dicts too); other values from the first part."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key not in merged:
                merged[key] = _sum([value]) if isinstance(value, dict) else value
            elif isinstance(value, dict) and isinstance(merged[key], dict):
                merged[key] = _sum([merged[key], value])
            elif isinstance(value, int | float) and isinstance(
                merged[key], int | float
            ):
                if not isinstance(value, bool):
                    merged[key] = merged[key] + value
            elif merged[key] is None:
                merged[key] = value
    return merged


def _load_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


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


def _tier_lines(tiers: object) -> list[tuple[str, str]]:
    """Rows, tokens and dollars by served tier; the saving against Standard; Flex's refusals and fallbacks."""
    if not isinstance(tiers, dict):
        return []
    served = _dict(tiers.get("served"))
    parts = [
        f"{tier} {int(entry.get('rows', 0)):,} rows, {int(entry.get('total_tokens', 0)):,} tokens, "
        f"${_number(entry.get('cost_usd')):,.4f}"
        for tier, entry in served.items()
        if isinstance(entry, dict)
    ]
    lines = [("tiers", "; ".join(parts) or "none")] if parts else []
    saved = _number(tiers.get("saved_usd"))
    notes = []
    if saved:
        notes.append(
            f"${saved:,.4f} saved against all Standard"
            if saved > 0
            else f"${-saved:,.4f} more than all Standard"
        )
    for key, what in (
        ("flex_refused", "Flex refusals"),
        ("flex_fallbacks", "rows moved to Standard"),
    ):
        if tiers.get(key):
            notes.append(f"{tiers[key]:,} {what}")
    auto = _dict(tiers.get("auto"))
    if auto:
        notes.append(
            f"auto sent {auto.get('flex', 0):,} attempts at Flex, {auto.get('standard', 0):,} at Standard"
        )
    if notes:
        lines.append(("", "; ".join(notes)))
    return lines


def _cache_lines(cache: object) -> list[tuple[str, str]]:
    if (
        not isinstance(cache, dict)
        or not cache.get("name")
        and not cache.get("created")
    ):
        return []
    text = (
        f"{cache.get('name')}: {int(cache.get('tokens') or 0):,} tokens, {cache.get('state')}; "
        f"${_number(cache.get('creation_usd')):,.4f} to create, ${_number(cache.get('storage_usd')):,.6f} "
        f"storage ({int(cache.get('created') or 0)} created, {int(cache.get('reused') or 0)} reused)"
    )
    return [("cache", text)]


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
    cache_note = (
        " and the context cache" if isinstance(status.get("cache"), dict) else ""
    )
    spent = _number(status.get("spent_usd"))
    lines = [
        ("run", str(status.get("dir", ""))),
        ("state", str(status.get("state", status.get("ended", "")))),
        ("spec hash", str(status.get("spec_hash", ""))),
        ("rows", f"{total} in input: {counts}, {pending} pending"),
        ("tokens", ", ".join(token_counts)),
        (
            "cost",
            f"${cost:,.4f} for the rows in the output{cache_note}, ${spent:,.4f} spent in all",
        ),
    ]
    if status.get("unpriced_rows"):
        lines.append(
            (
                "unpriced",
                f"{status['unpriced_rows']:,} rows have no price (model not in the price table)",
            )
        )
    lines.extend(_tier_lines(status.get("tiers")))
    lines.extend(_cache_lines(status.get("cache")))
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
