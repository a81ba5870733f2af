"""The commands as a user calls them (click's CliRunner); their exit-code map is tested in tests/test_api.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
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


def _served_config(monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """The EmulatorConfig `pipeline emulator ARGS` would serve (the server is not started)."""
    import pipeline.emulator

    seen: list[Any] = []
    monkeypatch.setattr(
        pipeline.emulator, "serve_forever", lambda config, ready: seen.append(config)
    )
    done = CliRunner().invoke(cli, ["emulator", *args])
    assert done.exit_code == 0, done.output
    return seen[0]


def test_emulator_flag_defaults_are_the_configs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline.emulator import EmulatorConfig

    assert (
        _served_config(monkeypatch) == EmulatorConfig()
    )  # rpd on the Pacific day included


def test_emulator_flags_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _served_config(
        monkeypatch,
        "--day-window", "30", "--lifecycle-date", "2026-07-01", "--image-signature-chars", "0",
        "--flex-latency-s", "0.5", "--flex-jitter", "0", "--flex-capacity", "4",
        "--flex-shed-status", "429", "--priority-allowance-rpm", "7", "--implicit-cache",
        "--implicit-cache-ttl-s", "60", "--batch-pending-s", "0", "--batch-rows-per-s", "50",
        "--batch-expire-s", "600", "--batch-enqueued-tokens", "100000", "--batch-max-concurrent", "2",
        "--batch-max-input-bytes", "1048576", "--batch-fail-rate", "0.25",
    )  # fmt: skip
    assert (
        config.day_window_s,
        config.lifecycle_date,
        config.image_signature_chars,
    ) == (30.0, "2026-07-01", 0)
    assert (config.flex_latency_s, config.flex_jitter, config.flex_capacity, config.flex_shed_status) == (0.5, 0.0, 4, 429)  # fmt: skip
    assert (config.priority_allowance_rpm, config.implicit_cache, config.implicit_cache_ttl_s) == (7, True, 60.0)  # fmt: skip
    assert (config.batch_pending_s, config.batch_rows_per_s, config.batch_expire_s) == (0.0, 50.0, 600.0)  # fmt: skip
    assert (config.batch_enqueued_tokens, config.batch_max_concurrent, config.batch_max_input_bytes, config.batch_fail_rate) == (100000, 2, 1048576, 0.25)  # fmt: skip


def test_a_bad_lifecycle_date_is_a_usage_error() -> None:
    done = CliRunner().invoke(cli, ["emulator", "--lifecycle-date", "December"])
    assert done.exit_code == 2
    assert "lifecycle_date" in done.output


# --- warnings and `pipeline models` ---------------------------------------------------------------------------


def test_a_shut_down_model_exits_2_before_anything_is_sent(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job(
        [{"id": "a", "prompt": "x"}], provider={"model": "gemini-3-pro-image-preview"}
    )
    done = CliRunner().invoke(
        cli, ["run", str(job), "--emulator", "--out", str(tmp_path / "o")]
    )
    assert done.exit_code == 2
    assert "provider.model" in done.output
    assert (
        "gemini-3-pro-image-preview was shut down on 2026-06-25; use gemini-3-pro-image"
        in done.output
    )
    assert not (tmp_path / "o").exists()


def test_spec_warnings_go_to_stderr_unless_quiet(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job([{"id": "a", "prompt": "x"}], provider={"model": "gemini-3.7-flash"})
    done = CliRunner().invoke(cli, ["estimate", str(job)])
    assert done.exit_code == 0, done.output
    assert "warning: provider.model: gemini-3.7-flash is deprecated" in done.stderr
    assert "gemini-3.8-flash" in done.stderr
    quiet = CliRunner().invoke(
        cli,
        ["run", str(job), "--emulator", "--quiet", "--out", str(tmp_path / "o")],
    )
    assert "warning:" not in quiet.output


def test_models_lists_the_catalog_without_a_key() -> None:
    done = CliRunner().invoke(
        cli, ["models"], env={"GEMINI_API_KEY": "", "GOOGLE_API_KEY": ""}
    )
    assert done.exit_code == 0, done.output
    lines = {
        line.split()[0]: line for line in done.stdout.splitlines()[2:] if line.split()
    }
    assert (
        "current" in lines["gemini-3-pro-image"]
        and "$0.1344 per 1K image" in lines["gemini-3-pro-image"]
    )
    assert (
        "shut down 2026-06-25 -> gemini-3-pro-image"
        in lines["gemini-3-pro-image-preview"]
    )
    assert "deprecated, routed to gemini-3.8-flash" in lines["gemini-3.7-flash"]
    assert "gemini-3.1-pro-preview-thinking" not in lines  # an aggregator's name
    assert "was not fetched" in done.stdout


def test_models_json_with_the_emulators_list() -> None:
    done = CliRunner().invoke(cli, ["models", "--json", "--emulator"])
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    rows = {row["id"]: row for row in document["models"]}
    assert document["provider"] == "gemini"
    flash = rows["gemini-3.8-flash"]
    assert flash["input"] in (0.75, 1.50)  # the step of the day: 2027-01-01 doubles it
    assert flash["batch_input"] == flash["input"] / 2
    assert flash["flex_output"] == flash["output"] / 2
    assert rows["gemini-3.1-pro-preview"]["served"] is True
    assert all(isinstance(row["served"], bool) for row in rows.values())
    assert isinstance(document["served_not_in_catalog"], list)


def test_models_on_an_openai_compatible_list() -> None:
    done = CliRunner().invoke(
        cli, ["models", "--provider", "openai", "--json", "--emulator"]
    )
    assert done.exit_code == 0, done.output
    rows = {row["id"]: row for row in json.loads(done.stdout)["models"]}
    assert rows["gemini-3.1-pro-preview-thinking"]["served"] is True
    assert rows["gemini-3-pro-image-preview"]["status"] == "shut down"


def test_served_ids_the_catalog_does_not_know_are_marked() -> None:
    from datetime import date

    from pipeline.cli._models import listing, render_models

    document = listing(
        "gemini",
        ["gemini-3.1-pro-preview", "gemini-9-ultra", "embedding-5"],
        on=date(2026, 12, 3),
    )
    assert document["served_not_in_catalog"] == ["embedding-5", "gemini-9-ultra"]
    table = render_models(document, as_json=False)
    assert any(
        line.startswith("gemini-9-ultra") and "served, not in catalog" in line
        for line in table.splitlines()
    )
    rows = {line.split()[0]: line for line in table.splitlines()[2:]}
    assert (
        "not served" in rows["gemini-3.8-flash"]
        and "not served" not in rows["gemini-3.1-pro-preview"]
    )
