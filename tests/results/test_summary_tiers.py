"""summary.json and `pipeline status` by served tier, and the context cache's run-level cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.records import JournalTotals, Outcome, Usage
from pipeline.results import build_summary
from pipeline.status import read_status, render_status
from pipeline.store import Journal

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


async def test_status_shows_the_tiers_from_the_journal(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, fingerprint="f", spec_description={})
    async with journal:
        for i, tier in enumerate(["flex", "flex", "standard", None]):
            await journal.record(
                Outcome(
                    id=f"r{i}",
                    status="ok" if tier else "failed",
                    usage=Usage(100, 10, 0, 0, 110, 0) if tier else Usage(),
                    cost_usd=0.01 if tier == "flex" else 0.02 if tier else None,
                    attempts=1,
                    line=i,
                    service_tier=tier,
                )
            )
        journal.save_meta(
            "counters", {"requests_sent": 4, "tier_events": {"flex_refused": 2}}
        )
    status = read_status(tmp_path)
    served = status["tiers"]["served"]  # type: ignore[index]
    assert set(served) == {
        "flex",
        "standard",
    }  # the failed row served nothing and cost nothing
    assert served["flex"]["rows"] == 2 and served["flex"]["cost_usd"] == pytest.approx(
        0.02
    )
    text = render_status(status)
    assert "flex 2 rows, 220 tokens, $0.0200" in text
    assert "$0.0200 saved against all Standard" in text and "2 Flex refusals" in text
