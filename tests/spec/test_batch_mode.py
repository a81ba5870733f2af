"""`mode` and `[batch]`: parsed, checked against the provider, kept out of the spec's fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import SpecError
from pipeline.spec import BatchSpec, load_spec, parse_spec

BASE = """
[provider]
kind = "gemini"
model = "gemini-3-flash-preview"

[input]
path = "rows.jsonl"
"""


def write(tmp_path: Path, top: str = "", tables: str = "", base: str = BASE) -> Path:
    (tmp_path / "rows.jsonl").write_text('{"id": "a", "prompt": "hi"}\n')
    path = tmp_path / "job.toml"
    path.write_text(top + base + tables)
    return path


def test_online_is_the_default_and_batch_has_defaults(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path))
    assert spec.mode == "online"
    assert spec.batch == BatchSpec()
    assert spec.batch.max_file_bytes == 2_000_000_000
    assert spec.batch.max_job_tokens is None and spec.batch.max_job_rows is None


def test_mode_and_the_batch_table_are_read(tmp_path: Path) -> None:
    spec = load_spec(
        write(
            tmp_path,
            'mode = "batch"\n',
            "\n[batch]\nmax_file_bytes = 4096\nmax_job_tokens = 1000\nmax_job_rows = 10\n"
            'poll_interval_s = 0.5\nmax_poll_interval_s = 5\nlabel = "nightly"\n',
        )
    )
    assert spec.mode == "batch"
    assert spec.batch == BatchSpec(4096, 1000, 10, 0.5, 5.0, "nightly")


def test_a_long_first_poll_raises_the_default_ceiling(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, tables="\n[batch]\npoll_interval_s = 300\n"))
    assert spec.batch.max_poll_interval_s == 300


@pytest.mark.parametrize(
    ("top", "tables", "key", "fragment"),
    [
        ('mode = "later"\n', "", "mode", '"online", "batch"'),
        (
            "",
            "\n[batch]\nmax_file_bytes = 10\n",
            "batch.max_file_bytes",
            "at least 1024",
        ),
        (
            "",
            "\n[batch]\npoll_interval_s = 0\n",
            "batch.poll_interval_s",
            "more than 0",
        ),
        (
            "",
            "\n[batch]\npoll_interval_s = 10\nmax_poll_interval_s = 5\n",
            "batch.max_poll_interval_s",
            "at least poll_interval_s",
        ),
        ("", "\n[batch]\nmax_jobs = 3\n", "batch.max_jobs", "unknown key"),
    ],
)
def test_wrong_batch_values_are_refused(
    tmp_path: Path, top: str, tables: str, key: str, fragment: str
) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, top, tables))
    assert caught.value.key == key
    assert fragment in str(caught.value)


def test_vertex_and_googles_openai_door_have_no_batch_mode(tmp_path: Path) -> None:
    vertex = BASE.replace('kind = "gemini"', 'kind = "vertex"\nproject = "p"')
    with pytest.raises(SpecError, match='not available on kind = "vertex"'):
        load_spec(write(tmp_path, 'mode = "batch"\n', base=vertex))
    google = BASE.replace(
        'kind = "gemini"',
        'kind = "openai"\nbase_url = "https://generativelanguage.googleapis.com/v1beta/openai"',
    )
    with pytest.raises(SpecError, match="create and status only|only creating"):
        load_spec(write(tmp_path, 'mode = "batch"\n', base=google))
    # an aggregator's endpoint is fine: it follows OpenAI's Batch API
    aggregator = BASE.replace(
        'kind = "gemini"', 'kind = "openai"\nbase_url = "https://agg.example/v1"'
    )
    assert (
        load_spec(write(tmp_path, 'mode = "batch"\n', base=aggregator)).mode == "batch"
    )


def test_with_mode_overrides_and_checks(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path))
    assert spec.with_mode(None) is spec
    assert spec.with_mode("batch").mode == "batch"
    vertex = parse_spec(
        {
            "provider": {
                "kind": "vertex",
                "project": "p",
                "model": "gemini-3-flash-preview",
            },
            "input": {"path": str(tmp_path / "rows.jsonl")},
        },
        base_dir=tmp_path,
    )
    with pytest.raises(SpecError) as caught:
        vertex.with_mode("batch")
    assert caught.value.key == "mode"


def test_mode_and_batch_settings_are_not_part_of_the_fingerprint(
    tmp_path: Path,
) -> None:
    online = load_spec(write(tmp_path))
    batch = load_spec(
        write(tmp_path, 'mode = "batch"\n', "\n[batch]\nmax_job_rows = 5\n")
    )
    assert online.fingerprint() == batch.fingerprint()
