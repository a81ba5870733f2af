"""The journal: exact round trips, latest-wins, resume sets, spec and lock refusals, group commit, crash and
disk-full safety. Durable behaviour is checked by re-opening the database, as a resumed run would."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

from pipeline.errors import OutputError, SpecError
from pipeline.records import ImageFile, Outcome, UploadedFile, Usage
from pipeline.store._journal import (
    FSYNC_INTERVAL_S,
    JOURNAL_NAME,
    Journal,
    JournalReader,
    MemoryJournal,
)

SPEC = {
    "provider": {"model": "gemini-3.1-pro-preview"},
    "generation": {"temperature": 0.2},
}
T0 = datetime(2026, 9, 1, 12, 0, 0, 123456, tzinfo=UTC)


def open_journal(
    run_dir: Path, *, fingerprint: str = "fp-1", durable: bool = True, **spec: object
) -> Journal:
    journal = Journal.open(
        run_dir, fingerprint=fingerprint, spec_description=spec or SPEC, durable=durable
    )
    return journal  # type: ignore[return-value]


def full_outcome(row_id: str = "doc-1", **changes: object) -> Outcome:
    values: dict[str, object] = {
        "id": row_id,
        "status": "ok",
        "usage": Usage(1200, 340, 56, 78, 1674, 9),
        "text": "résumé — 日本語 \U0001f600 \n tabs\t",
        "json": '{"a": [1, 2.5, null]}',
        "images": (ImageFile("images/x-1.png", "image/png", "ab" * 32, 1234),),
        "function_calls": '[{"name": "f", "args": {}}]',
        "finish_reason": "STOP",
        "model_version": "gemini-3.1-pro-preview-0915",
        "cost_usd": 0.0123456789012345,
        "attempts": 3,
        "latency_ms": 812.345678,
        "error_code": None,
        "error_message": None,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=1, microseconds=7),
        "line": 42,
        "kept": {
            "title": "Q3",
            "n": 7,
            "x": 1.5,
            "flag": True,
            "tags": ["a", "b"],
            "obj": {"k": None},
        },
    }
    values.update(changes)
    return Outcome(**values)  # type: ignore[arg-type]


async def record_all(journal: Journal | MemoryJournal, outcomes: list[Outcome]) -> None:
    async with journal:
        for outcome in outcomes:
            await journal.record(outcome)


@pytest.mark.parametrize("durable", [True, False])
async def test_every_field_round_trips_exactly(tmp_path: Path, durable: bool) -> None:
    outcomes = [
        full_outcome("doc-1"),
        Outcome(id="bare", status="invalid"),  # every optional field empty
        full_outcome(
            "failed",
            status="failed",
            error_code="RESOURCE_EXHAUSTED",
            error_message="quota",
            images=(),
        ),
        full_outcome(
            "lone-surrogate", text="bad \ud800 half", line=None
        ),  # from a JSON reply's escapes
        full_outcome(
            "id-\udc80", kept={"k\ud800": "v\udfff"}, error_message="\ud83d", json="[]"
        ),
    ]
    journal = open_journal(tmp_path, durable=durable)
    async with journal:
        for outcome in outcomes:
            await journal.record(outcome)
        read_back = {o.id: o for o in journal.iter_outcomes()}
    assert read_back == {o.id: o for o in outcomes}
    if durable:  # and from disk, after the journal was closed
        reopened = open_journal(tmp_path)
        assert {o.id: o for o in reopened.iter_outcomes()} == {
            o.id: o for o in outcomes
        }
        reopened.close()


async def test_datetimes_come_back_as_utc(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=2))
    naive = datetime(2026, 1, 2, 3, 4, 5)
    journal = open_journal(tmp_path)
    await record_all(
        journal, [full_outcome(started_at=T0.astimezone(paris), finished_at=naive)]
    )
    (outcome,) = open_journal(tmp_path).iter_outcomes()
    assert outcome.started_at == T0 and outcome.started_at.tzinfo == UTC
    assert outcome.finished_at == naive.replace(tzinfo=UTC)


async def test_latest_outcome_wins_and_every_cost_counts_as_spent(
    tmp_path: Path,
) -> None:
    journal = open_journal(tmp_path)
    await record_all(
        journal,
        [
            full_outcome("a", status="failed", cost_usd=0.5),
            full_outcome("b", cost_usd=0.25),
            full_outcome("a", status="ok", cost_usd=1.0, text="second"),
        ],
    )
    journal = open_journal(tmp_path)
    by_id = {o.id: o for o in journal.iter_outcomes()}
    assert (
        set(by_id) == {"a", "b"}
        and by_id["a"].status == "ok"
        and by_id["a"].text == "second"
    )
    totals = journal.totals()
    assert totals.rows == 2 and totals.by_status == {"ok": 2}
    assert totals.cost_usd == pytest.approx(1.25)
    assert (
        journal.spent_usd() == pytest.approx(1.75) == totals.spent_usd
    )  # the failed attempt was paid too
    assert totals.usage == Usage(2400, 680, 112, 156, 3348, 18) and totals.attempts == 6
    journal.close()


@pytest.mark.parametrize("durable", [True, False])
async def test_final_ids_leave_out_invalid_and_optionally_failed(
    tmp_path: Path, durable: bool
) -> None:
    journal = open_journal(tmp_path, durable=durable)
    async with journal:
        for row_id, status in [
            ("o", "ok"),
            ("b", "blocked"),
            ("f", "failed"),
            ("i", "invalid"),
        ]:
            await journal.record(Outcome(id=row_id, status=status))  # type: ignore[arg-type]
        assert journal.final_ids() == {"o", "b", "f"}
        assert journal.final_ids(retry_failed=True) == {"o", "b"}


@pytest.mark.parametrize("durable", [True, False])
async def test_replay_is_ordered_by_line_then_id_across_pages(
    tmp_path: Path, durable: bool
) -> None:
    lines = [(5, "b"), (5, "a"), (1, "z"), (None, "q"), (3, "d"), (5, "c"), (2, "y")]
    journal = open_journal(tmp_path, durable=durable)
    async with journal:
        for line, row_id in lines:
            await journal.record(Outcome(id=row_id, status="ok", line=line))
        replay = [(o.line, o.id) for o in journal.iter_outcomes(batch_size=2)]
    assert replay == [
        (None, "q"),
        (1, "z"),
        (2, "y"),
        (3, "d"),
        (5, "a"),
        (5, "b"),
        (5, "c"),
    ]


async def test_a_different_spec_is_refused_naming_what_differs(tmp_path: Path) -> None:
    open_journal(tmp_path).close()
    changed = {
        "provider": SPEC["provider"],
        "generation": {"temperature": 0.5},
        "limits": {"concurrency": 8},
    }
    with pytest.raises(SpecError) as refused:
        Journal.open(tmp_path, fingerprint="fp-2", spec_description=changed)
    message = str(refused.value)
    assert "generation.temperature: 0.2 -> 0.5" in message
    assert "limits.concurrency: (unset) -> 8" in message
    assert "provider" not in message.split("spec:")[1]  # unchanged keys are not listed
    assert "--out" in message and "--allow-spec-change" in message
    # refused without harm: the run is still there and the lock was released
    allowed = Journal.open(
        tmp_path, fingerprint="fp-2", spec_description=changed, allow_spec_change=True
    )
    allowed.close()
    again = Journal.open(
        tmp_path, fingerprint="fp-2", spec_description=changed
    )  # the new spec is adopted
    assert again.load_meta("fingerprint") == "fp-2"
    assert again.load_meta("spec_changes")[0]["changed"] == [  # type: ignore[index]
        "generation.temperature: 0.2 -> 0.5",
        "limits.concurrency: (unset) -> 8",
    ]
    again.close()


@pytest.mark.parametrize("durable", [True, False])
def test_a_second_run_in_the_same_dir_is_refused(tmp_path: Path, durable: bool) -> None:
    first = open_journal(tmp_path, durable=durable)
    with pytest.raises(
        OutputError, match=rf"in use by another run \(pid {os.getpid()}\)"
    ):
        open_journal(tmp_path)
    if durable:  # status reads it meanwhile, without the lock
        reader = JournalReader.open_readonly(tmp_path)
        assert reader.totals().rows == 0
        reader.close()
    first.close()
    open_journal(tmp_path).close()


def test_an_unusable_dir_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(
        OutputError, match="file/run: cannot create the output directory"
    ):
        open_journal(tmp_path / "file" / "run")
    (tmp_path / "newer" / JOURNAL_NAME).parent.mkdir()
    with sqlite3.connect(tmp_path / "newer" / JOURNAL_NAME) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(OutputError, match="newer pipeline"):
        open_journal(tmp_path / "newer")
    with pytest.raises(OutputError, match="holds no run"):
        JournalReader.open_readonly(tmp_path / "nothing")


async def test_record_needs_the_writer_running(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    with pytest.raises(RuntimeError, match="async with journal"):
        await journal.record(full_outcome())
    journal.close()


async def test_concurrent_records_share_commits_and_all_are_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    commit = Journal._commit

    def counting_commit(self: Journal, batch: Any) -> None:
        batches.append(len(batch.rows))
        commit(self, batch)

    monkeypatch.setattr(Journal, "_commit", counting_commit)
    journal = open_journal(tmp_path)
    async with journal:

        async def worker(w: int) -> None:
            for k in range(20):
                await journal.record(
                    Outcome(
                        id=f"w{w}-{k}", status="ok", line=w * 100 + k, cost_usd=0.01
                    )
                )

        async with anyio.create_task_group() as tg:
            for w in range(64):
                tg.start_soon(worker, w)
    assert sum(batches) == 64 * 20
    assert (
        len(batches) < 64 * 20 / 8
    )  # group commit: many records per transaction, not one each
    reopened = open_journal(tmp_path)
    assert reopened.totals().rows == 1280 and reopened.spent_usd() == pytest.approx(
        12.8
    )
    reopened.close()


async def test_queued_records_survive_a_cancelled_run(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    with anyio.CancelScope() as scope:
        async with journal, anyio.create_task_group() as tg:
            for k in range(50):
                tg.start_soon(journal.record, Outcome(id=f"r{k}", status="ok"))
            await (
                anyio.lowlevel.checkpoint()
            )  # every record() is queued, none is committed yet
            scope.cancel()  # a second Ctrl+C: the writer is cancelled with everything else
    assert scope.cancelled_caught
    reopened = open_journal(tmp_path)
    assert reopened.totals().rows == 50
    reopened.close()


async def test_disk_full_fails_the_batch_and_keeps_the_journal_consistent(
    tmp_path: Path,
) -> None:
    journal = open_journal(tmp_path)
    async with journal:
        await journal.record(full_outcome("before"))
        pages = journal._writer.execute("PRAGMA page_count").fetchone()[0]
        journal._writer.execute(
            f"PRAGMA max_page_count = {pages + 2}"
        )  # the "disk" is now nearly full
        big = "x" * 50_000
        with pytest.raises(
            OutputError,
            match="cannot write the journal: database or disk is full; free some",
        ):
            await journal.record(full_outcome("too-big", text=big))
        journal._writer.execute(
            "PRAGMA max_page_count = 1073741823"
        )  # space freed: recording goes on
        await journal.record(full_outcome("after"))
    reopened = open_journal(tmp_path)
    assert {o.id for o in reopened.iter_outcomes()} == {"before", "after"}
    assert reopened._conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reopened.close()


async def test_a_journal_from_before_spend_was_booked_per_batch_is_not_counted_twice(
    tmp_path: Path,
) -> None:
    journal = open_journal(tmp_path)
    await record_all(journal, [full_outcome("a", cost_usd=0.5)])
    old = sqlite3.connect(tmp_path / JOURNAL_NAME)
    old.execute(  # what earlier versions booked spend with
        "CREATE TRIGGER outcomes_spend AFTER INSERT ON outcomes WHEN NEW.cost_usd IS NOT NULL "
        "BEGIN UPDATE spend SET usd = usd + NEW.cost_usd; END"
    )
    old.commit()
    old.close()
    journal = open_journal(tmp_path)
    await record_all(journal, [full_outcome("b", cost_usd=0.25)])
    reopened = open_journal(tmp_path)
    assert reopened.spent_usd() == pytest.approx(0.75)
    reopened.close()


async def test_record_returns_once_committed_and_the_wal_is_synced_in_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[float] = []
    real_sync = Journal._sync_wal

    def spy(self: Journal) -> None:
        synced.append(time.monotonic())
        real_sync(self)

    monkeypatch.setattr(Journal, "_sync_wal", spy)
    journal = open_journal(tmp_path)
    async with journal:
        for k in range(20):
            await journal.record(Outcome(id=f"s{k}", status="ok"))
            # committed: another connection (a process that outlives this one) sees it at once
            other = sqlite3.connect(tmp_path / JOURNAL_NAME)
            assert other.execute("SELECT count(*) FROM outcomes").fetchone()[0] == k + 1
            other.close()
        assert (
            len(synced) <= 2
        )  # 20 commits in a few ms: at most one group fsync so far
        await anyio.sleep(FSYNC_INTERVAL_S * 2)
        assert synced  # the interval passed: the WAL was synced without another commit
    reopened = open_journal(tmp_path)
    assert reopened.totals().rows == 20
    reopened.close()


async def test_a_failed_commit_raises_in_the_caller_and_keeps_the_journal_consistent(
    tmp_path: Path,
) -> None:
    journal = open_journal(tmp_path)
    async with journal:
        await journal.record(full_outcome("before"))
        pages = journal._writer.execute("PRAGMA page_count").fetchone()[0]
        journal._writer.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(OutputError, match="database or disk is full"):
            await journal.record(full_outcome("lost", text="x" * 50_000))
        await journal.record(
            full_outcome("small")
        )  # room for a small one: the journal goes on
    reopened = open_journal(tmp_path)
    assert {o.id for o in reopened.iter_outcomes()} == {"before", "small"}
    reopened.close()


CHILD = textwrap.dedent(
    """
    import sys, anyio
    from pathlib import Path
    from pipeline.store import Journal
    from pipeline.records import Outcome

    async def main():
        run_dir, tag = Path(sys.argv[1]), sys.argv[2]
        journal = Journal.open(run_dir, fingerprint="fp", spec_description={})
        async with journal:
            async def worker(w):
                k = 0
                while True:
                    row_id = f"{tag}-{w}-{k}"
                    await journal.record(Outcome(id=row_id, status="ok", text="y" * (k % 700), cost_usd=0.001))
                    print(row_id, flush=True)  # acknowledged: it is durable now
                    k += 1
            async with anyio.create_task_group() as tg:
                for w in range(16):
                    tg.start_soon(worker, w)

    anyio.run(main)
    """
)


def test_kill_9_while_recording_loses_no_acknowledged_outcome(tmp_path: Path) -> None:
    rng = random.Random(7)
    acknowledged: set[str] = set()
    for round_ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), f"r{round_}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        wanted = rng.randint(50, 1500)  # kill it at a random moment
        printed = ""
        for seen, line in enumerate(child.stdout, start=1):
            printed += line
            if seen >= wanted:
                break
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        # everything the child printed before it died was acknowledged by record()
        lines = (printed + rest).split("\n")
        acknowledged.update(
            line for line in lines[:-1] if line
        )  # the last piece may be cut off
        journal = open_journal(
            tmp_path, fingerprint="fp"
        )  # opens: the kernel dropped the dead run's lock
        assert journal._conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        journaled = {o.id for o in journal.iter_outcomes()}
        journal.close()
        assert acknowledged <= journaled
        assert len(acknowledged) >= 50 * (round_ + 1)


@pytest.mark.parametrize("durable", [True, False])
async def test_meta_values_and_uploads(tmp_path: Path, durable: bool) -> None:
    journal = open_journal(tmp_path, durable=durable)
    journal.save_meta(
        "counters", {"requests_sent": 3, "retries_by_cause": {"UNAVAILABLE": 1}}
    )
    assert journal.load_meta("counters") == {
        "requests_sent": 3,
        "retries_by_cause": {"UNAVAILABLE": 1},
    }
    assert journal.load_meta("missing") is None
    now = datetime.now(UTC)
    fresh = UploadedFile(
        "files/a",
        "https://f/a",
        "application/pdf",
        "ACTIVE",
        10,
        "aa",
        now + timedelta(hours=40),
    )
    expiring = UploadedFile(
        "files/b",
        "https://f/b",
        "image/png",
        "ACTIVE",
        20,
        None,
        now + timedelta(minutes=30),
    )
    forever = UploadedFile("files/c", "https://f/c", "text/plain", "ACTIVE")
    for key, upload in (("aa", fresh), ("bb", expiring), ("cc", forever)):
        journal.put_upload(key, upload)
    assert journal.get_upload("aa") == fresh and journal.get_upload("cc") == forever
    assert journal.get_upload("bb") is None  # expires within the hour: upload again
    assert journal.get_upload("zz") is None
    journal.forget_upload("aa")
    assert list(journal.iter_uploads()) == [expiring, forever]
    journal.close()
    if durable:
        reopened = open_journal(tmp_path)
        assert reopened.load_meta("counters") == {
            "requests_sent": 3,
            "retries_by_cause": {"UNAVAILABLE": 1},
        }
        assert reopened.get_upload("cc") == forever
        reopened.close()


def test_durable_false_is_the_in_memory_journal(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "run", durable=False)
    assert isinstance(journal, MemoryJournal)
    assert not (tmp_path / "run" / JOURNAL_NAME).exists()
    journal.close()
