"""summary.json by served tier, and the context cache's run-level cost (`pipeline status` by tier: tests/report)."""

from __future__ import annotations

import pytest

from pipeline.records import JournalTotals, Usage
from pipeline.results import build_summary

TIER = {"rows": 0, "input_tokens": 0, "output_tokens": 0, "thinking_tokens": 0,
        "cached_tokens": 0, "total_tokens": 0}  # fmt: skip


def totals() -> JournalTotals:
    return JournalTotals(
        rows=4,
        by_status={"ok": 4},
        usage=Usage(400, 40, 0, 0, 440, 0),
        cost_usd=0.5,
        attempts=4,
        spent_usd=0.5,
        by_tier={
            "flex": {**TIER, "rows": 2, "total_tokens": 220, "cost_usd": 0.1},
            "standard": {**TIER, "rows": 1, "total_tokens": 110, "cost_usd": 0.2},
            "priority": {**TIER, "rows": 1, "total_tokens": 110, "cost_usd": 0.2},
        },
    )


def build(**extra: object) -> dict[str, object]:
    return build_summary(
        totals(),
        spec_fingerprint="h",
        wall_time_s=1.0,
        requests_sent=4,
        retries_by_cause={},
        input_rows=4,
        budget_usd=1.0,
        stopped=None,
        **extra,  # type: ignore[arg-type]
    )


def test_rows_tokens_and_dollars_by_served_tier_and_the_saving() -> None:
    built = build(
        tier_events={
            "flex_fallback": 1,
            "flex_refused": 3,
            "auto_flex": 5,
            "auto_standard": 2,
        }
    )
    tiers = built["tiers"]
    assert tiers["served"]["flex"] == {
        **TIER,
        "rows": 2,
        "total_tokens": 220,
        "cost_usd": 0.1,
    }  # type: ignore[index]
    # At Standard: flex 0.1 x 2, standard 0.2, priority 0.2 / 2.
    assert tiers["standard_cost_usd"] == pytest.approx(0.5)  # type: ignore[index]
    assert tiers["saved_usd"] == pytest.approx(0.0)  # type: ignore[index]
    assert (tiers["flex_fallbacks"], tiers["flex_refused"]) == (1, 3)  # type: ignore[index]
    assert tiers["auto"] == {"flex": 5, "standard": 2}  # type: ignore[index]


def test_the_cache_is_a_run_level_cost() -> None:
    cache = {"name": "cachedContents/x", "tokens": 5000, "created": 1, "reused": 0,
             "state": "deleted", "creation_usd": 0.01, "storage_usd": 0.002}  # fmt: skip
    built = build(cache=cache)
    assert built["cost_usd"] == pytest.approx(0.512)
    assert built["spent_usd"] == pytest.approx(0.512)
    assert built["budget"]["spent_usd"] == pytest.approx(0.512)  # type: ignore[index]
    assert built["cache"]["cost_usd"] == pytest.approx(0.012)  # type: ignore[index]
