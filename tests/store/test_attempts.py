"""The journal's `attempts` table (issue 18): one row per request as it ended, queued without waiting for a
commit, read back in order, and added to journals written before it existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_journal import full_outcome, open_journal

from pipeline.records import MAX_ATTEMPT_MESSAGE, AttemptRecord
from pipeline.store._journal import JOURNAL_NAME, SCHEMA_VERSION, JournalReader


def attempt(row_id: str, n: int = 1, **changes: object) -> AttemptRecord:
    values: dict[str, object] = {
        "row_id": row_id,
        "attempt": n,
        "started_at": 1_790_000_000.25 + n,
        "ended_at": 1_790_000_000.75 + n,
        "result": "ok",
        "http_status": 200,
    }
    values.update(changes)
    return AttemptRecord(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("durable", [True, False])
async def test_attempts_round_trip_in_order(tmp_path: Path, durable: bool) -> None:
    notes = [
        attempt(
            "a",
            1,
            result="error",
            http_status=429,
            error_code="RESOURCE_EXHAUSTED",
            message="slow down",
        ),
        attempt(
            "b",
            1,
            result="error",
            http_status=None,
            error_code="TIMEOUT",
            message="read timeout",
        ),
        attempt("a", 2, service_tier="flex"),
        attempt("b", 2, result="blocked"),
    ]
    journal = open_journal(tmp_path, durable=durable)
    async with journal:
        for note in notes[:2]:
            journal.note_attempt(note)
        await journal.record(
            full_outcome("a")
        )  # the queued attempts ride along with this commit
        for note in notes[2:]:
            journal.note_attempt(note)
        if not durable:
            assert list(journal.iter_attempts()) == notes
    if durable:
        reader = JournalReader.open_readonly(tmp_path)
        assert (
            list(reader.iter_attempts(batch_size=3)) == notes
        )  # committed at exit too
        reader.close()


async def test_attempts_alone_are_committed_by_flush(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    async with journal:
        journal.note_attempt(
            attempt("x", result="error", error_code="UNAVAILABLE", http_status=503)
        )
        await journal.flush()
        reader = JournalReader.open_readonly(
            tmp_path
        )  # another connection sees it: committed
        assert [a.error_code for a in reader.iter_attempts()] == ["UNAVAILABLE"]
        reader.close()


async def test_long_messages_are_cut(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    async with journal:
        journal.note_attempt(
            attempt("x", result="error", error_code="INTERNAL", message="m" * 5000)
        )
    reader = JournalReader.open_readonly(tmp_path)
    [note] = reader.iter_attempts()
    reader.close()
    assert note.message == "m" * MAX_ATTEMPT_MESSAGE


def test_note_attempt_needs_the_journal_entered(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="entered"):
            journal.note_attempt(attempt("x"))
    finally:
        journal.close()


def _make_v1_journal(run_dir: Path) -> None:
    """A journal as pipeline wrote it before attempts were journaled: no `attempts` table, user_version 1."""
    run_dir.mkdir()
    conn = sqlite3.connect(run_dir / JOURNAL_NAME)
    conn.executescript(
        "CREATE TABLE outcomes (id TEXT PRIMARY KEY, line INTEGER);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "PRAGMA user_version = 1;"
    )
    conn.close()


def test_a_v1_journal_reads_with_no_attempts(tmp_path: Path) -> None:
    run_dir = tmp_path / "old"
    _make_v1_journal(run_dir)
    reader = JournalReader.open_readonly(run_dir)
    assert list(reader.iter_attempts()) == []
    reader.close()


async def test_a_v1_journal_gains_the_attempts_table_when_a_run_opens_it(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "out"
    journal = open_journal(run_dir)
    async with journal:
        await journal.record(full_outcome("a"))
    # make it v1 again, as an older pipeline left it
    conn = sqlite3.connect(run_dir / JOURNAL_NAME)
    conn.executescript("DROP TABLE attempts; PRAGMA user_version = 1;")
    conn.close()
    journal = open_journal(run_dir)
    async with journal:
        assert journal.final_ids() == {"a"}  # the outcomes are kept
        journal.note_attempt(attempt("b"))
    conn = sqlite3.connect(run_dir / JOURNAL_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert conn.execute("SELECT row_id FROM attempts").fetchall() == [("b",)]
    conn.close()


async def test_outcomes_without_texts(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    async with journal:
        await journal.record(full_outcome("a"))
    reader = JournalReader.open_readonly(tmp_path)
    [light] = reader.iter_outcomes(without_texts=True)
    [full] = reader.iter_outcomes()
    reader.close()
    assert (light.text, light.json, light.function_calls, dict(light.kept)) == (
        None,
        None,
        None,
        {},
    )
    assert light == full.__class__(
        **{
            **{f: getattr(full, f) for f in full.__slots__},
            "text": None,
            "json": None,
            "function_calls": None,
            "kept": {},
        }
    )
