"""DIR/summary.json: the run's totals, built from the journal's aggregates and written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from pipeline.catalog import FLEX_MULTIPLIER, PRIORITY_MULTIPLIER
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
    tier_events: Mapping[str, int] | None = None,
    cache: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The run's totals as summary.json holds them; `stopped` is None for a run that completed.

    `cost_usd` is what the rows in the output cost; `spent_usd` adds outcomes that were replaced later (failed
    rows retried with --retry-failed), i.e. all the money the run spent; the budget is checked against it.
    Both include the run-level cost of a context cache (`cache`: its creation and storage, as the engine
    journaled them). `tier_events` are the engine's counts of Flex refusals and fallbacks and auto's choices.
    """
    cache_usd = _cache_usd(cache)
    spent_usd = totals.spent_usd + cache_usd
    summary: dict[str, object] = {
        "ended": stopped or "completed",
        "rows": _rows(totals, input_rows),
        "tokens": {
            f"{kind}_tokens": getattr(totals.usage, f"{kind}_tokens")
            for kind in _TOKEN_KINDS
        },
        "cost_usd": round(totals.cost_usd + cache_usd, 6),
        "spent_usd": round(spent_usd, 6),
        "unpriced_rows": totals.unpriced_rows,
        "attempts": totals.attempts,
        "requests_sent": requests_sent,
        "retries_by_cause": dict(sorted(retries_by_cause.items())),
        "wall_time_s": round(wall_time_s, 3),
        "spec_hash": spec_fingerprint,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if totals.by_tier or tier_events:
        summary["tiers"] = _tiers(totals, tier_events or {})
    if cache:
        summary["cache"] = {**cache, "cost_usd": round(cache_usd, 6)}
    if budget_usd is not None:
        left = max(0.0, budget_usd - spent_usd)
        summary["budget"] = {
            "limit_usd": budget_usd,
            "spent_usd": round(spent_usd, 6),
            "left_usd": round(left, 6),
        }
    return summary


# What a row served at a tier would have cost at Standard: its cost divided by the tier's multiplier.
_TO_STANDARD = {"flex": 1 / FLEX_MULTIPLIER, "priority": 1 / PRIORITY_MULTIPLIER}


def _tiers(totals: JournalTotals, events: Mapping[str, int]) -> dict[str, object]:
    """Rows, tokens and dollars by served tier; what the same rows would have cost at Standard (the saving is
    negative when Priority cost more); Flex's refusals and fallbacks and auto's choices (attempts)."""
    served: dict[str, dict[str, float]] = {}
    at_standard = 0.0
    for tier, entry in sorted(totals.by_tier.items()):
        served[tier] = {
            key: round(value, 6) if key == "cost_usd" else int(value)
            for key, value in entry.items()
        }
        at_standard += entry.get("cost_usd", 0.0) * _TO_STANDARD.get(tier, 1.0)
    section: dict[str, object] = {
        "served": served,
        "standard_cost_usd": round(at_standard, 6),
        "saved_usd": round(at_standard - totals.cost_usd, 6),
        "flex_refused": events.get("flex_refused", 0),
        "flex_fallbacks": events.get("flex_fallback", 0),
    }
    if "auto_flex" in events or "auto_standard" in events:
        section["auto"] = {
            "flex": events.get("auto_flex", 0),
            "standard": events.get("auto_standard", 0),
        }
    return section


def _cache_usd(cache: Mapping[str, object] | None) -> float:
    if not cache:
        return 0.0
    total = 0.0
    for key in ("creation_usd", "storage_usd"):
        value = cache.get(key)
        total += float(value) if isinstance(value, int | float) else 0.0
    return total


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
