"""The Python API against the embedded emulator: the same jobs, errors and exit codes as `pipeline run`."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from support import JobWriter

import pipeline
from pipeline.api import exit_code
from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.engine import RunResult, RunStats
from pipeline.errors import (
    BudgetExhausted,
    CredentialsError,
    DailyLimitReached,
    Interrupted,
    OutputError,
    SpecError,
)

ROOT = Path(__file__).resolve().parents[1]
MODEL = {"kind": "gemini", "model": "gemini-3.1-pro-preview"}
KEY = {"GEMINI_API_KEY": "api-test-key"}


def rows(n: int, prefix: str = "r") -> list[dict[str, str]]:
    return [
        {"id": f"{prefix}{i}", "prompt": f"Say {i}.", "title": f"T{i}"}
        for i in range(n)
    ]


def test_a_whole_run_from_python_reads_back_as_a_dataframe(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = pipeline.load_job(make_job(rows(4), output={"keep_fields": ["title"]}))

    result = pipeline.run(job, tmp_path / "out", emulator=True, environ={})

    assert result.exit_code == 0 and result.stopped is None
    assert result.out_dir == tmp_path / "out"
    assert result.summary == json.loads((result.out_dir / "summary.json").read_text())
    assert result.summary["rows"] == {
        "total": 4, "ok": 4, "failed": 0, "blocked": 0, "truncated": 0, "invalid": 0, "pending": 0
    }  # fmt: skip
    frame = result.to_dataset().to_table().to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert sorted(frame["id"]) == ["r0", "r1", "r2", "r3"]
    assert set(frame["status"]) == {"ok"} and frame["text"].str.len().min() > 0
    assert list(frame.sort_values("id")["title"]) == ["T0", "T1", "T2", "T3"]


async def test_run_async_runs_inside_the_callers_event_loop(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job(rows(3))
    with pytest.raises(RuntimeError, match=r"pipeline\.run_async"):
        pipeline.run(job, tmp_path / "never", emulator=True)
    with pytest.raises(RuntimeError, match="to_thread"):
        pipeline.estimate(job)
    assert not (tmp_path / "never").exists()

    result = await pipeline.run_async(job, tmp_path / "out", emulator=True)

    assert result.exit_code == 0
    assert result.to_dataset().count_rows() == 3


def test_estimate_checks_every_row_and_prices_them(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job([*rows(3), {"id": "x"}])  # the last row has no prompt

    estimate = pipeline.estimate(job)
    counted = pipeline.estimate(job, count_tokens=True, emulator=True)

    assert isinstance(estimate, pipeline.Estimate)
    assert (estimate.rows, estimate.valid_rows, estimate.invalid_rows) == (4, 3, 1)
    assert estimate.input_tokens_exact is None and estimate.input_tokens > 0
    assert estimate.cost_low_usd is not None and estimate.cost_high_usd is not None
    assert 0 < estimate.cost_low_usd <= estimate.cost_high_usd
    assert counted.input_tokens_exact is not None and counted.input_tokens_exact > 0
    assert not (tmp_path / "out").exists()  # nothing was run


def test_load_job_takes_a_mapping_shaped_like_the_toml(
    make_job: JobWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file = pipeline.load_job(make_job(rows(1)))
    mapping: dict[str, Any] = {
        "provider": MODEL,
        "input": {"path": "job.jsonl"},
        "limits": {"concurrency": 16, "max_attempts": 4, "request_timeout_s": 10.0},
    }

    from_mapping = pipeline.load_job(mapping, base_dir=tmp_path, name="job")
    monkeypatch.chdir(tmp_path)
    from_cwd = pipeline.load_job(mapping)

    assert from_mapping.fingerprint() == from_file.fingerprint()
    assert from_mapping.input.path == from_file.input.path == from_cwd.input.path
    assert from_mapping.limits == from_file.limits
    assert (from_mapping.name, from_cwd.name, from_file.name) == ("job", "job", "job")
    assert pipeline.load_job(from_file) is from_file


def test_a_bad_mapping_raises_the_spec_error_that_names_the_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "rows.jsonl").write_text('{"id": "a", "prompt": "x"}\n')
    good = {"provider": MODEL, "input": {"path": "rows.jsonl"}}

    with pytest.raises(SpecError) as caught:
        pipeline.load_job({**good, "limits": {"concurrency": 0}}, base_dir=tmp_path)
    with pytest.raises(pipeline.SpecError, match=r"^input\.path: expected an existing"):
        pipeline.load_job(
            good
        )  # relative to the current directory, which has no rows.jsonl
    with pytest.raises(pipeline.SpecError, match='did you mean "limits"'):
        pipeline.load_job({**good, "limts": {}}, base_dir=tmp_path)

    assert caught.value.key == "limits.concurrency"
    assert (
        str(caught.value)
        == "limits.concurrency: expected an integer of at least 1, got 0"
    )
    assert exit_code(caught.value) == 2  # what `pipeline run` exits with for it
    with pytest.raises(TypeError, match="mapping"):
        pipeline.load_job(tmp_path / "job.toml", base_dir=tmp_path)
    with pytest.raises(TypeError, match="got int"):
        pipeline.load_job(3)  # type: ignore[arg-type]


def test_a_run_with_a_failed_row_returns_exit_code_1(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job(
        [{"id": "a", "prompt": "fine"}, {"id": "b", "prompt": "no [[emu:fail=400]]"}]
    )

    result = pipeline.run(job, tmp_path / "out", emulator=True)

    assert result.exit_code == 1 and result.stopped is None
    table = result.to_dataset().to_table().to_pandas().set_index("id")
    assert table.loc["b", "status"] == "failed"
    assert table.loc["b", "error_code"] == "INVALID_ARGUMENT"
    assert table.loc["a", "status"] == "ok"


def test_a_budget_stop_returns_exit_code_3_and_resumes(
    make_job: JobWriter, tmp_path: Path
) -> None:
    spec = pipeline.load_job(make_job(rows(5), limits={"budget_usd": 0.000001}))
    out = tmp_path / "out"

    stopped = pipeline.run(spec, out, emulator=True)

    assert (
        stopped.exit_code == 3
    )  # returned, not raised, as `pipeline run` exits 3 after writing the results
    assert isinstance(stopped.stopped, pipeline.BudgetExhausted)
    assert stopped.summary["rows"]["pending"] == 5  # type: ignore[index]
    assert set(stopped.to_dataset().to_table()["status"].to_pylist()) == {"pending"}

    raised = pipeline.load_job(make_job(rows(5), limits={"budget_usd": 5.0}))
    resumed = pipeline.run(raised, out, emulator=True)

    assert resumed.exit_code == 0
    assert set(resumed.to_dataset().to_table()["status"].to_pylist()) == {"ok"}


def test_sigint_stops_a_run_from_the_main_thread_with_exit_code_130(
    make_job: JobWriter, tmp_path: Path
) -> None:
    def interrupt_once_in_flight(emulator: EmulatorThread) -> None:
        deadline = time.monotonic() + 30
        while emulator.ledger()["in_flight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            [{"id": "slow", "prompt": "wait [[emu:latency=20]]"}, *rows(3)],
            provider={"base_url": emulator.base_url},
            limits={"concurrency": 1},
        )
        threading.Thread(
            target=interrupt_once_in_flight, args=(emulator,), daemon=True
        ).start()
        result = pipeline.run(job, tmp_path / "out", grace_s=0.2, environ=KEY)

    assert result.exit_code == 130  # as `pipeline run` exits after the first Ctrl+C
    assert isinstance(result.stopped, pipeline.Interrupted)
    assert result.summary["rows"]["pending"] == 4  # type: ignore[index]


def test_what_the_cli_exits_2_for_is_raised(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job(rows(1))

    with pytest.raises(pipeline.CredentialsError, match="GEMINI_API_KEY") as caught:
        pipeline.run(job, tmp_path / "out", environ={})  # no emulator, no key

    assert exit_code(caught.value) == 2
    assert not (tmp_path / "out" / "results").exists()


def test_quiet_false_logs_the_progress_the_cli_shows(
    make_job: JobWriter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline")

    pipeline.run(make_job(rows(2)), tmp_path / "out", emulator=True, quiet=False)

    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith(
        "emulator: running the job against the local emulator"
    )
    assert any(re.match(r"rows 2/2 \| ok 2 \| not ok 0", line) for line in messages)
    assert any(line.startswith("results: ") for line in messages)


def test_the_readme_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert code, "README's Python API section has a ```python example"
    for folder in ("jobs", "sample_data"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)

    for block in code:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102

    assert "summarise-docs" in os.listdir(tmp_path / "out")
    assert "limits.concurrency" in capsys.readouterr().out


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
        (KeyboardInterrupt(), 130),
        (ValueError("a bug"), 1),
    ],
)
def test_one_exit_code_map_for_the_cli_and_the_api(
    outcome: RunResult | BaseException, code: int
) -> None:
    assert exit_code(outcome) == code
    assert pipeline.exit_code is exit_code
