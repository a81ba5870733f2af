"""The commands as a user calls them (click's CliRunner); their exit-code map is tested in tests/test_api.py."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from support import JobWriter

from pipeline.cli._commands import cli


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
