"""DIR/summary.json: the run's totals, built from the journal's aggregates and written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import OutputError
from pipeline.records import JournalTotals

SUMMARY_NAME = "summary.json"
STATUSES = ("ok", "failed", "blocked", "truncated", "invalid")
ENDINGS = (
    "completed",
    "interrupted",
    "budget",
    "daily_limit",
    "provider_quota",
    "refused",
    "detached",
)
_TOKEN_KINDS = ("input", "output", "thinking", "cached", "total", "image_output")


def build_summary(
    totals: JournalTotals,
    *,
    spec_fingerprint: str,
    wall_time_s: float,
    requests_sent: int,
    retries_by_cause: Mapping[str, int],
    input_rows: int | None,
    budget_usd: float | None,
    stopped: str | None,
) -> dict[str, object]:
    """The run's totals as summary.json holds them; `stopped` is None for a run that completed.

    `cost_usd` is what the rows in the output cost; `spent_usd` adds outcomes that were replaced later (failed
    rows retried with --retry-failed), i.e. all the money the run spent; the budget is checked against it.
    """
    summary: dict[str, object] = {
        "ended": stopped or "completed",
        "rows": _rows(totals, input_rows),
        "tokens": {
            f"{kind}_tokens": getattr(totals.usage, f"{kind}_tokens")
            for kind in _TOKEN_KINDS
        },
        "cost_usd": round(totals.cost_usd, 6),
        "spent_usd": round(totals.spent_usd, 6),
        "unpriced_rows": totals.unpriced_rows,
        "attempts": totals.attempts,
        "requests_sent": requests_sent,
        "retries_by_cause": dict(sorted(retries_by_cause.items())),
        "wall_time_s": round(wall_time_s, 3),
        "spec_hash": spec_fingerprint,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if budget_usd is not None:
        left = max(0.0, budget_usd - totals.spent_usd)
        summary["budget"] = {
            "limit_usd": budget_usd,
            "spent_usd": round(totals.spent_usd, 6),
            "left_usd": round(left, 6),
        }
    return summary


def _rows(totals: JournalTotals, input_rows: int | None) -> dict[str, int | None]:
    rows: dict[str, int | None] = {"total": input_rows}
    rows.update({status: totals.by_status.get(status, 0) for status in STATUSES})
    rows["pending"] = None if input_rows is None else max(0, input_rows - totals.rows)
    return rows


def write_summary(run_dir: Path, summary: Mapping[str, object]) -> None:
    """Write DIR/summary.json atomically (temp file, fsync, rename); OutputError when it cannot be written."""
    path = Path(run_dir) / SUMMARY_NAME
    tmp = path.with_name(f".{SUMMARY_NAME}.tmp-{secrets.token_hex(4)}")
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump(summary, file, indent=2, ensure_ascii=False)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(
            f"{path}: cannot write the summary: {exc.strerror or exc}"
        ) from exc
