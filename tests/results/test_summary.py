"""summary.json and `pipeline status`: the numbers, the atomic write, and status of live, finished and
crashed runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import OutputError
from pipeline.records import Outcome, Usage
from pipeline.results import build_summary, write_summary
from pipeline.status import read_status, render_status
from pipeline.store import Journal, JournalTotals

TOTALS = JournalTotals(
    rows=10,
    by_status={"ok": 6, "failed": 2, "invalid": 1, "blocked": 1},
    usage=Usage(1000, 200, 50, 10, 1260, 0),
    cost_usd=0.75,
    attempts=14,
    spent_usd=1.25,
    unpriced_rows=0,
)


def summary(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "spec_fingerprint": "abc123",
        "wall_time_s": 12.3456,
        "requests_sent": 14,
        "retries_by_cause": {"UNAVAILABLE": 3, "RESOURCE_EXHAUSTED": 1},
        "input_rows": 25,
        "budget_usd": None,
        "stopped": None,
    }
    values.update(changes)
    return build_summary(TOTALS, **values)  # type: ignore[arg-type]


def test_summary_numbers() -> None:
    built = summary()
    assert built["ended"] == "completed"
    assert built["rows"] == {
        "total": 25,
        "ok": 6,
        "failed": 2,
        "blocked": 1,
        "truncated": 0,
        "invalid": 1,
        "pending": 15,
    }
    assert built["tokens"] == {
        "input_tokens": 1000, "output_tokens": 200, "thinking_tokens": 50, "cached_tokens": 10,
        "total_tokens": 1260, "image_output_tokens": 0,
    }  # fmt: skip
    assert built["cost_usd"] == 0.75 and built["spent_usd"] == 1.25
    assert built["requests_sent"] == 14 and built["wall_time_s"] == 12.346
    assert built["retries_by_cause"] == {"RESOURCE_EXHAUSTED": 1, "UNAVAILABLE": 3}
    assert built["spec_hash"] == "abc123" and "budget" not in built


def test_summary_with_a_budget_and_an_early_stop() -> None:
    built = summary(budget_usd=2.0, stopped="budget", input_rows=None)
    assert built["ended"] == "budget"
    assert built["budget"] == {
        "limit_usd": 2.0,
        "spent_usd": 1.25,
        "left_usd": 0.75,
    }  # spent, not output cost
    assert built["rows"]["pending"] is None  # type: ignore[index]


def test_write_summary_is_atomic_json(tmp_path: Path) -> None:
    write_summary(tmp_path, summary())
    write_summary(tmp_path, summary(stopped="interrupted"))
    assert json.loads((tmp_path / "summary.json").read_text())["ended"] == "interrupted"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temp file left
    with pytest.raises(OutputError, match="cannot write the summary"):
        write_summary(tmp_path / "missing" / "dir", summary())


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
