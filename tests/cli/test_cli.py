"""The command line: one exit-code map, and the commands as a user calls them (click's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from support import JobWriter

from pipeline.cli._commands import cli, exit_code
from pipeline.errors import (
    BudgetExhausted,
    CredentialsError,
    DailyLimitReached,
    Interrupted,
    OutputError,
    SpecError,
)
from pipeline.run import RunResult, RunStats


def result(rows: dict[str, int], stopped: object = None) -> RunResult:
    return RunResult(
        out_dir=Path("."),
        summary={"rows": rows},
        stats=RunStats(),
        stopped=stopped,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (result({"total": 3, "ok": 3, "failed": 0, "pending": 0}), 0),
        (result({"total": 3, "ok": 2, "failed": 1, "pending": 0}), 1),
        (result({"total": 3, "ok": 2, "blocked": 1}), 1),
        (result({"total": 3, "ok": 2, "invalid": 1}), 1),
        (result({"total": 3, "ok": 1}, BudgetExhausted("b")), 3),
        (result({"total": 3, "ok": 1}, DailyLimitReached("d")), 3),
        (result({"total": 3, "ok": 1}, Interrupted("i")), 130),
        (SpecError("bad", file="job.toml", key="limits.concurrency"), 2),
        (CredentialsError("no key"), 2),
        (OutputError("locked"), 2),
        (click.UsageError("usage"), 2),
        (KeyboardInterrupt(), 130),
    ],
)
def test_exit_codes_follow_the_contract(
    outcome: RunResult | BaseException, code: int
) -> None:
    assert exit_code(outcome) == code


def test_run_on_the_embedded_emulator_says_so_first(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job([{"id": f"r{i}", "prompt": f"p{i}"} for i in range(5)])
    out = tmp_path / "out"
    done = CliRunner().invoke(
        cli, ["run", str(job), "--emulator", "--out", str(out)], env={}
    )
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0].startswith("emulator:")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"]["ok"] == 5
    status = CliRunner().invoke(cli, ["status", str(out)])
    assert status.exit_code == 0 and "5 ok" in status.output


def test_a_failed_row_exits_1_and_says_where_the_errors_are(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job(
        [{"id": "a", "prompt": "fine"}, {"id": "b", "prompt": "no [[emu:fail=400]]"}]
    )
    done = CliRunner().invoke(
        cli, ["run", str(job), "--emulator", "--out", str(tmp_path / "o")]
    )
    assert done.exit_code == 1, done.output
    assert "error_code" in done.output


def test_a_bad_spec_exits_2_naming_file_and_key(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job([{"id": "a", "prompt": "x"}], limits={"concurrency": 0})
    done = CliRunner().invoke(
        cli, ["run", str(job), "--emulator", "--out", str(tmp_path / "o")]
    )
    assert done.exit_code == 2
    assert "limits.concurrency" in done.output and str(job) in done.output
    assert not (tmp_path / "o").exists()  # nothing was started


def test_quiet_prints_nothing_on_success(make_job: JobWriter, tmp_path: Path) -> None:
    job = make_job([{"id": "a", "prompt": "x"}])
    done = CliRunner().invoke(
        cli, ["run", str(job), "--emulator", "--quiet", "--out", str(tmp_path / "o")]
    )
    assert done.exit_code == 0
    assert [
        line for line in done.output.splitlines() if not line.startswith("emulator:")
    ] == []


def test_emulator_flags_are_checked(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["emulator", "--fault-rate", "3"])
    assert done.exit_code == 2
    assert "fault_rate" in done.output
