"""summary.json: the numbers and the atomic write (`pipeline status` is tested in tests/report/test_status.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import OutputError
from pipeline.records import Usage
from pipeline.results import build_summary, write_summary
from pipeline.store import JournalTotals

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
