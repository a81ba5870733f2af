"""The journal's batch tables: jobs and their rows, live sets, leftovers, the abandon guard, the v1 migration."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.records import Outcome
from pipeline.store import LIVE_PHASES, BatchJobRecord, Journal, JournalReader
from pipeline.store._journal import JOURNAL_NAME, SCHEMA_VERSION

SPEC = {"provider": {"model": "gemini-3-flash-preview"}}
NOW = "2026-12-01T00:00:00+00:00"


def open_journal(run_dir: Path) -> Journal:
    journal = Journal.open(run_dir, fingerprint="fp", spec_description=SPEC)
    assert isinstance(journal, Journal)
    return journal


def job(local_id: str, seq: int, phase: str = "building") -> BatchJobRecord:
    return BatchJobRecord(
        local_id=local_id,
        seq=seq,
        display_name=f"pipeline job {local_id}",
        phase=phase,
        created_at=NOW,
        updated_at=NOW,
    )


def rows(*ids: str) -> list[tuple[str, int | None, str | None, str | None]]:
    return [(row_id, n, None, None) for n, row_id in enumerate(ids, 1)]


def test_jobs_and_rows_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    assert journal.batch_jobs() == [] and journal.batch_next_seq() == 1
    journal.batch_begin(job("t-0001", 1))
    journal.batch_add_rows(
        "t-0001",
        [("a", 1, '{"title":"A"}', '{"temperature":0.1}'), ("b", 2, None, None)],
    )
    journal.batch_update(
        "t-0001", phase="creating", rows=2, reserved_usd=0.5, updated_at=NOW
    )
    journal.close()
    reader = JournalReader.open_readonly(tmp_path)
    try:
        (found,) = reader.batch_jobs()
        assert found.local_id == "t-0001" and found.phase == "creating" and found.live
        assert (
            found.rows == 2 and found.reserved_usd == 0.5 and found.remote_name is None
        )
        assert reader.batch_next_seq() == 2
        assert reader.batch_live_ids() == {"a", "b"}
        info = reader.batch_row_info(["a", "b", "c"])
        assert info == {
            "a": ("t-0001", 1, '{"title":"A"}', '{"temperature":0.1}'),
            "b": ("t-0001", 2, None, None),
        }
    finally:
        reader.close()


def test_only_creating_and_submitted_jobs_hold_live_rows(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    try:
        for seq, phase in enumerate(
            ("building", "creating", "submitted", "collected"), 1
        ):
            journal.batch_begin(job(f"t-{seq}", seq, phase))
            journal.batch_add_rows(f"t-{seq}", rows(f"{phase}-row"))
        assert journal.batch_live_ids() == {"creating-row", "submitted-row"}
        assert [j.phase for j in journal.batch_jobs(LIVE_PHASES)] == [
            "creating",
            "submitted",
        ]
    finally:
        journal.close()


def test_a_row_sent_again_moves_to_its_new_job(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    try:
        journal.batch_begin(job("t-1", 1, "collected"))
        journal.batch_add_rows("t-1", rows("a", "b"))
        journal.batch_begin(job("t-2", 2, "submitted"))
        journal.batch_add_rows("t-2", rows("b"))
        info = journal.batch_row_info(["a", "b"])
        assert info["a"][0] == "t-1" and info["b"][0] == "t-2"
    finally:
        journal.close()


def test_only_a_job_never_created_can_be_abandoned(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    try:
        journal.batch_begin(job("t-1", 1, "building"))
        journal.batch_add_rows("t-1", rows("a"))
        journal.batch_begin(job("t-2", 2, "creating"))
        journal.batch_add_rows("t-2", rows("b"))
        assert journal.batch_abandon("t-1", updated_at=NOW, error="stopped")
        # an intent may have reached the provider: it keeps its rows whatever the caller says
        assert not journal.batch_abandon("t-2", updated_at=NOW)
        phases = {j.local_id: (j.phase, j.error) for j in journal.batch_jobs()}
        assert phases == {"t-1": ("abandoned", "stopped"), "t-2": ("creating", None)}
        assert journal.batch_row_info(["a", "b"]) == {"b": ("t-2", 1, None, None)}
    finally:
        journal.close()


def test_update_refuses_the_identity_columns(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    try:
        journal.batch_begin(job("t-1", 1))
        with pytest.raises(ValueError, match="seq"):
            journal.batch_update("t-1", seq=7)
    finally:
        journal.close()


async def test_leftover_and_collected_follow_the_jobs_own_outcomes(
    tmp_path: Path,
) -> None:
    journal = open_journal(tmp_path)
    submitted = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
    earlier = submitted - timedelta(hours=30)
    async with journal:
        journal.batch_begin(job("t-1", 1, "submitted"))
        journal.batch_add_rows("t-1", rows("a", "b", "c", "d"))
        # "a" answered by this job; "b" has an older outcome (from an earlier, expired job)
        await journal.record(Outcome(id="a", status="ok", started_at=submitted, line=1))
        await journal.record(
            Outcome(id="b", status="failed", started_at=earlier, line=2)
        )
        assert journal.batch_collected(["a", "b", "c"], submitted) == {"a"}
        left = journal.batch_leftover("t-1", submitted)
        assert [row_id for row_id, _, _ in left] == ["b", "c", "d"]
        page = journal.batch_leftover("t-1", submitted, after="b", limit=1)
        assert [row_id for row_id, _, _ in page] == ["c"]


def test_a_v1_journal_gains_the_batch_tables(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    journal.close()
    path = tmp_path / JOURNAL_NAME
    with sqlite3.connect(
        path
    ) as conn:  # what pipeline 0.1 left: no batch tables, user_version 1
        conn.execute("DROP TABLE batch_rows")
        conn.execute("DROP TABLE batch_jobs")
        conn.execute("PRAGMA user_version = 1")
    reader = JournalReader.open_readonly(tmp_path)
    try:  # `pipeline status` on an old journal: no batch jobs, no error
        assert reader.batch_jobs() == [] and reader.batch_live_ids() == set()
    finally:
        reader.close()
    journal = open_journal(tmp_path)
    try:
        journal.batch_begin(job("t-1", 1))
        assert [j.local_id for j in journal.batch_jobs()] == ["t-1"]
    finally:
        journal.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


async def test_skip_and_live_lookups_by_chunk(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    async with journal:
        await journal.record(Outcome(id="done", status="ok", line=1))
        await journal.record(Outcome(id="bad", status="failed", line=2))
        await journal.record(Outcome(id="typo", status="invalid", line=3))
        journal.batch_begin(job("t-1", 1, "submitted"))
        journal.batch_add_rows("t-1", rows("waiting"))
        journal.batch_begin(job("t-2", 2, "collected"))
        journal.batch_add_rows("t-2", rows("old"))
        ids = ["done", "bad", "typo", "waiting", "old", "new"]
        assert journal.batch_skip(ids) == ({"done", "bad"}, {"waiting"})
        assert journal.batch_skip(ids, retry_failed=True) == ({"done"}, {"waiting"})
        assert journal.batch_is_live("waiting") and not journal.batch_is_live("old")
