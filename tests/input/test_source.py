"""iter_rows: rows in file order, stable ids, invalid lines kept with their reason, bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.input import count_rows, iter_rows
from pipeline.records import GenerationSettings, InvalidRow, MediaRef, Row
from pipeline.spec._load import InputSpec, JobSpec, PromptSpec, ProviderSpec


def spec_for(
    path: Path, *, template: str | None = None, model: str = "gemini-3.1-pro-preview"
) -> JobSpec:
    return JobSpec(
        name="t",
        path=path.with_suffix(".toml"),
        provider=ProviderSpec(kind="gemini", model=model),
        input=InputSpec(path=path),
        prompt=PromptSpec(template=template),
        generation=GenerationSettings(thinking_level="low"),
    )


def read(tmp_path: Path, lines: list[str], **options: Any) -> list[Row | InvalidRow]:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list(iter_rows(spec_for(path, **options)))


def only(items: list[Row | InvalidRow]) -> Row | InvalidRow:
    assert len(items) == 1, items
    return items[0]


def test_rows_keep_file_order_line_numbers_and_fields(tmp_path: Path) -> None:
    rows = read(
        tmp_path,
        [
            '{"id": "a", "prompt": "one", "title": "T"}',
            "",
            "   ",
            '{"id": "b", "prompt": "two"}',
        ],
    )
    assert [(row.id, row.line) for row in rows] == [
        ("a", 1),
        ("b", 4),
    ]  # blank lines: no row, still counted
    first = rows[0]
    assert isinstance(first, Row)
    assert first.prompt == "one" and first.fields == {
        "id": "a",
        "prompt": "one",
        "title": "T",
    }
    assert (first.system, first.media, dict(first.generation)) == (None, (), {})


def test_integer_ids_become_strings(tmp_path: Path) -> None:
    row = only(read(tmp_path, ['{"id": 42, "prompt": "x"}']))
    assert isinstance(row, Row) and row.id == "42"


@pytest.mark.parametrize("bad_id", ['""', "1.5", "true", "[1]", '{"a": 1}'])
def test_other_ids_are_invalid(tmp_path: Path, bad_id: str) -> None:
    row = only(read(tmp_path, ['{"id": ' + bad_id + ', "prompt": "x"}']))
    assert isinstance(row, InvalidRow)
    assert (
        row.id == "line-1" and row.line == 1 and row.reason.startswith("id: expected")
    )
    assert row.fields["prompt"] == "x"


def test_rows_without_an_id_get_a_stable_content_id(tmp_path: Path) -> None:
    rows = read(
        tmp_path,
        [
            '{"prompt": "x", "n": 1}',
            '{"n": 1, "prompt": "x"}',
            '{"id": null, "prompt": "y"}',
        ],
    )
    first, same, other = rows
    assert (
        isinstance(first, Row)
        and first.id.startswith("row-")
        and len(first.id) == 4 + 16
    )
    assert (
        first.id == read(tmp_path, ['{"n": 1, "prompt": "x"}'])[0].id
    )  # key order does not matter
    assert isinstance(same, InvalidRow)  # same content, same id
    assert (
        same.id == f"{first.id}#line2"
        and "identical rows need distinct ids" in same.reason
    )
    assert (
        isinstance(other, Row)
        and other.id == only(read(tmp_path, ['{"prompt": "y"}'])).id
    )


def test_repeated_ids_are_invalid_and_name_the_first_line(tmp_path: Path) -> None:
    rows = read(
        tmp_path,
        [
            '{"id": "x", "prompt": "1"}',
            '{"id": "y", "prompt": "2"}',
            "",
            '{"id": "x", "prompt": "3"}',
        ],
    )
    assert [row.id for row in rows] == ["x", "y", "x#line4"]
    dup = rows[2]
    assert isinstance(dup, InvalidRow)
    assert dup.reason == "duplicate id 'x' (first seen on line 1)"
    assert dup.line == 4 and dup.fields["prompt"] == "3"
    assert isinstance(rows[0], Row)  # the first one keeps its id and is sent


def test_duplicates_are_found_across_index_growth(tmp_path: Path) -> None:
    lines = [json.dumps({"id": f"id-{i}", "prompt": "p"}) for i in range(20_000)]
    lines += [
        json.dumps({"id": f"id-{i}", "prompt": "again"}) for i in range(0, 20_000, 997)
    ]
    rows = read(tmp_path, lines)
    invalid = [row for row in rows if isinstance(row, InvalidRow)]
    assert [row.reason for row in invalid] == [
        f"duplicate id 'id-{i}' (first seen on line {i + 1})"
        for i in range(0, 20_000, 997)
    ]
    assert sum(isinstance(row, Row) for row in rows) == 20_000


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"id": "a", "prompt": ', "not valid JSON"),
        ("not json", "not valid JSON: Expecting value at column 1"),
        ("[1, 2]", "expected a JSON object, got a list"),
        ('"just a string"', 'expected a JSON object, got "just a string"'),
        ("42", "expected a JSON object, got 42"),
    ],
)
def test_lines_that_are_not_json_objects_are_invalid(
    tmp_path: Path, line: str, fragment: str
) -> None:
    rows = read(
        tmp_path,
        ['{"id": "ok", "prompt": "x"}', line, '{"id": "after", "prompt": "y"}'],
    )
    assert [row.id for row in rows] == ["ok", "line-2", "after"]  # the run goes on
    bad = rows[1]
    assert (
        isinstance(bad, InvalidRow)
        and bad.line == 2
        and fragment in bad.reason
        and bad.fields == {}
    )


def test_bad_utf8_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "caf\xe9"}\n'
    )
    rows = list(iter_rows(spec_for(path)))
    assert isinstance(rows[0], Row) and rows[0].id == "a"
    assert (
        isinstance(rows[1], InvalidRow)
        and "not UTF-8" in rows[1].reason
        and rows[1].id == "line-2"
    )


def test_template_fields_come_from_the_row(tmp_path: Path) -> None:
    rows = read(
        tmp_path,
        ['{"id": "a", "text": "body", "n": 2}', '{"id": "b", "title": "no text"}'],
        template="Summarise in {n} points: {text} {{x}}",
    )
    good, bad = rows
    assert isinstance(good, Row) and good.prompt == "Summarise in 2 points: body {x}"
    assert isinstance(bad, InvalidRow) and bad.id == "b"
    assert bad.reason == "template field 'n' missing"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"id": "a"}', 'missing "prompt" field'),
        ('{"id": "a", "prompt": null}', 'missing "prompt" field'),
        ('{"id": "a", "prompt": ["x"]}', "prompt: expected a string, got a list"),
        ('{"id": "a", "prompt": "  "}', "nothing to send"),
        ('{"id": "a", "prompt": "x", "system": 3}', "system: expected a string"),
        (
            '{"id": "a", "prompt": "x", "generation": {"temperature": 5}}',
            "generation.temperature",
        ),
        (
            '{"id": "a", "prompt": "x", "generation": {"thinking_level": "minimal"}}',
            "generation.thinking_level",
        ),
        (
            '{"id": "a", "prompt": "x", "generation": {"tempreature": 1}}',
            'did you mean "temperature"',
        ),
        (
            '{"id": "a", "prompt": "x", "generation": "hot"}',
            "generation: expected an object",
        ),
        ('{"id": "a", "prompt": "x", "media": "a.png"}', "media: expected a list"),
        ('{"id": "a", "prompt": "x", "media": [3]}', "media[0]: expected a path"),
        (
            '{"id": "a", "prompt": "x", "media": ["ok.png", {"mime_type": "image/png"}]}',
            "media[1]",
        ),
        (
            '{"id": "a", "prompt": "x", "media": [{"path": "a.png", "size": 3}]}',
            "media[0]",
        ),
        (
            '{"id": "a", "prompt": "x", "media": [{"path": "a.png", "mime_type": 7}]}',
            "media[0]",
        ),
    ],
)
def test_rows_that_cannot_become_a_request_are_invalid(
    tmp_path: Path, line: str, fragment: str
) -> None:
    row = only(read(tmp_path, [line]))
    assert isinstance(row, InvalidRow)
    assert row.id == "a" and row.line == 1 and fragment in row.reason
    assert row.fields == json.loads(line)


def test_system_generation_and_media_are_read(tmp_path: Path) -> None:
    line = {
        "id": "a",
        "prompt": "",
        "system": "Row system",
        "generation": {"temperature": 1.0, "top_k": None},
        "media": [
            "reports/q3.pdf",
            {"path": "charts/a.png", "mime_type": "image/png"},
            {"path": "b.wav"},
        ],
    }
    row = only(read(tmp_path, [json.dumps(line)]))
    assert isinstance(row, Row)
    assert (
        row.system == "Row system" and row.prompt == ""
    )  # media alone is something to send
    assert dict(row.generation) == {"temperature": 1.0, "top_k": None}
    assert row.media == (
        MediaRef("reports/q3.pdf"),
        MediaRef("charts/a.png", "image/png"),
        MediaRef("b.wav"),
    )


def test_parquet_input_reads_the_same_columns(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    table = pa.table(
        {
            "id": pa.array([1, 2, 1, None], pa.int64()),
            "prompt": ["first", "second", "dup", "no id"],
            "title": ["A", "B", "C", "D"],
            "generation": pa.array(
                [
                    {"temperature": 0.5, "top_k": None},
                    None,
                    None,
                    {"temperature": None, "top_k": 3},
                ],
                pa.struct([("temperature", pa.float64()), ("top_k", pa.int64())]),
            ),
            "media": pa.array([["a.png"], None, [], None], pa.list_(pa.string())),
        }
    )
    pq.write_table(table, path, row_group_size=2)
    rows = list(iter_rows(spec_for(path)))
    assert [row.id for row in rows[:3]] == ["1", "2", "1#line3"]
    first = rows[0]
    assert (
        isinstance(first, Row)
        and first.prompt == "first"
        and first.fields["title"] == "A"
    )
    assert first.media == (MediaRef("a.png"),)
    assert isinstance(rows[2], InvalidRow) and "first seen on line 1" in rows[2].reason
    last = rows[3]
    assert isinstance(last, Row) and last.id.startswith("row-") and last.line == 4
    assert count_rows(path) == 4


def test_count_rows_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n  \nnot json\n{"b": 2}')  # no final newline
    assert count_rows(path) == 3
    assert count_rows(path) == len(list(iter_rows(spec_for(path))))


def test_rows_are_streamed_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    with path.open("w") as out:
        for i in range(25_000):
            out.write(
                json.dumps({"id": f"doc-{i:07d}", "text": "some words " * 8}) + "\n"
            )
    rows = iter_rows(spec_for(path, template="{text}"))
    tracemalloc.start()
    try:
        count = sum(1 for _ in rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 25_000
    assert peak < 2_500_000, (
        peak
    )  # the file is 2.7 MB as text, 12 MB as a list of dicts


@pytest.mark.slow
def test_a_million_rows_stream_in_bounded_memory(tmp_path: Path) -> None:
    """The id index is the only thing that grows: ~12-24 bytes per id, well under the 80 MB budget."""
    path = tmp_path / "rows.jsonl"
    with path.open("w") as out:
        out.writelines(
            f'{{"id": "doc-{i:07d}", "prompt": "row {i}"}}\n' for i in range(1_000_000)
        )
    assert count_rows(path) == 1_000_000
    tracemalloc.start()
    try:
        invalid = sum(isinstance(row, InvalidRow) for row in iter_rows(spec_for(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert invalid == 0
    assert peak < 80_000_000, peak
