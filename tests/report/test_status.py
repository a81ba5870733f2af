"""`pipeline status DIR` (pipeline.report): status of live, finished and crashed runs, read from the journal,
and the rows, tokens and dollars by served tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import OutputError
from pipeline.records import Outcome, Usage
from pipeline.report import read_status, render_status
from pipeline.results import build_summary, write_summary
from pipeline.store import Journal


async def record_run(run_dir: Path, statuses: list[str]) -> Journal:
    journal = Journal.open(run_dir, fingerprint="fp-9", spec_description={})
    async with journal:
        for k, status in enumerate(statuses):
            usage = Usage(100, 20, 5, 0, 125) if status != "invalid" else Usage()
            cost = 0.01 if status != "invalid" else None
            await journal.record(
                Outcome(
                    id=f"r{k}", status=status, usage=usage, cost_usd=cost, attempts=1
                )
            )  # type: ignore[arg-type]
        journal.save_meta("input_rows", 6)
        journal.save_meta(
            "counters", {"requests_sent": 7, "retries_by_cause": {"UNAVAILABLE": 2}}
        )
    return journal


async def test_status_of_a_finished_run(tmp_path: Path) -> None:
    await record_run(tmp_path, ["ok", "ok", "failed", "invalid"])
    reopened = Journal.open(tmp_path, fingerprint="fp-9", spec_description={})
    write_summary(tmp_path, build_summary(
        reopened.totals(), spec_fingerprint="fp-9", wall_time_s=3.0, requests_sent=7,
        retries_by_cause={"UNAVAILABLE": 2}, input_rows=6, budget_usd=1.0, stopped="interrupted",
    ))  # fmt: skip
    reopened.close()
    status = read_status(tmp_path)
    assert status["state"] == "interrupted"
    assert status["rows"] == {
        "total": 6,
        "ok": 2,
        "failed": 1,
        "blocked": 0,
        "truncated": 0,
        "invalid": 1,
        "pending": 2,
    }
    assert status["tokens"]["total_tokens"] == 375  # type: ignore[index]
    assert status["cost_usd"] == pytest.approx(0.03) and status["requests_sent"] == 7
    assert status["budget"]["left_usd"] == pytest.approx(0.97)  # type: ignore[index]
    text = render_status(status)
    assert (
        "interrupted" in text
        and "2 ok, 1 failed, 0 blocked, 0 truncated, 1 invalid, 2 pending" in text
    )
    assert (
        "6 in input" in text
        and "375 total" in text
        and "$0.0300" in text
        and "fp-9" in text
    )


async def test_status_of_a_killed_run_comes_from_the_journal(tmp_path: Path) -> None:
    await record_run(
        tmp_path, ["ok", "blocked"]
    )  # no summary.json: the process was killed
    status = read_status(tmp_path)
    assert status["state"].startswith("stopped without a summary")  # type: ignore[union-attr]
    assert status["rows"] == {
        "total": 6,
        "ok": 1,
        "failed": 0,
        "blocked": 1,
        "truncated": 0,
        "invalid": 0,
        "pending": 4,
    }
    assert status["requests_sent"] == 7 and status["retries_by_cause"] == {
        "UNAVAILABLE": 2
    }


async def test_status_while_a_run_holds_the_dir(tmp_path: Path) -> None:
    await record_run(tmp_path, ["ok"])
    live = Journal.open(tmp_path, fingerprint="fp-9", spec_description={})
    try:
        status = read_status(tmp_path)
        assert str(status["state"]).startswith("running (pid ")
        assert status["rows"]["ok"] == 1  # type: ignore[index]
    finally:
        live.close()
    Journal.open(
        tmp_path, fingerprint="fp-9", spec_description={}
    ).close()  # status did not keep the lock


def test_status_of_a_dir_without_a_run(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="holds no run"):
        read_status(tmp_path)


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
