"""The sink: writer -> reader round trips for every column, kept-field types, parts and row groups, the
atomic swap of DIR/results, and image files for hostile ids."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipeline.errors import OutputError, SpecError
from pipeline.records import GeneratedImage, ImageFile, Outcome, Usage
from pipeline.results._files import image_extension, remove_image_leftovers
from pipeline.results._parquet import (
    RESULTS_SCHEMA,
    image_name,
    read_results,
    results_schema,
    write_image,
    write_results,
)
from pipeline.store import _codec as outcome_codec

T0 = datetime(2026, 9, 1, 12, 0, 0, 123456, tzinfo=UTC)


def outcome(row_id: str, line: int = 0, **changes: Any) -> Outcome:
    values: dict[str, Any] = {"id": row_id, "status": "ok", "line": line}
    values.update(changes)
    return Outcome(**values)


def parts(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "results").glob("*.parquet"))


def kept_column(
    run_dir: Path, name: str, values: list[Any], **sizes: int
) -> tuple[pa.DataType, list[Any]]:
    write_results(
        run_dir,
        [outcome(f"r{i}", kept={name: v}) for i, v in enumerate(values)],
        keep_fields=[name],
        **sizes,
    )
    table = read_results(run_dir)
    return table.schema.field(name).type, table.column(name).to_pylist()


def test_every_column_round_trips(tmp_path: Path) -> None:
    image = ImageFile("images/a-1.png", "image/png", "ab" * 32, 1234)
    full = outcome(
        "doc-1",
        usage=Usage(1200, 340, 56, 78, 1674, 9),
        text="résumé \U0001f600",
        json='{"a": 1}',
        images=(image, image),
        function_calls='[{"name": "f"}]',
        finish_reason="STOP",
        model_version="gemini-3.1-pro-preview-0915",
        cost_usd=0.0123,
        attempts=3,
        latency_ms=812.5,
        error_code="SAFETY",
        error_message="blocked",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2),
        kept={"title": "Q3", "pages": 12},
        thoughts="**Planning** the summary",
        service_tier="flex",
    )
    bare = outcome("bare", status="invalid")
    assert write_results(tmp_path, [full, bare], keep_fields=["title", "pages"]) == 2
    table = read_results(tmp_path)
    assert table.schema == results_schema({"title": "string", "pages": "int64"})
    assert table.schema.field("attempts").type == pa.int32()
    assert table.schema.field("started_at").type == pa.timestamp("us", tz="UTC")
    first, second = table.to_pylist()
    assert first == {
        "id": "doc-1", "status": "ok", "text": "résumé \U0001f600", "json": '{"a": 1}',
        "images": [{"path": "images/a-1.png", "mime_type": "image/png", "sha256": "ab" * 32, "bytes": 1234}] * 2,
        "function_calls": '[{"name": "f"}]', "finish_reason": "STOP", "model_version": "gemini-3.1-pro-preview-0915",
        "input_tokens": 1200, "output_tokens": 340, "thinking_tokens": 56, "cached_tokens": 78, "total_tokens": 1674,
        "cost_usd": 0.0123, "attempts": 3, "latency_ms": 812.5, "error_code": "SAFETY", "error_message": "blocked",
        "started_at": T0, "finished_at": T0 + timedelta(seconds=2), "title": "Q3", "pages": 12,
        "thoughts": "**Planning** the summary", "service_tier": "flex",
    }  # fmt: skip
    assert (
        second["id"] == "bare" and second["images"] == [] and second["cost_usd"] is None
    )
    assert (
        second["started_at"] is None
        and second["title"] is None
        and second["attempts"] == 0
    )


def test_columns_from_the_journal_write_what_the_outcomes_write(
    tmp_path: Path,
) -> None:
    """The journal replays outcomes as columns; mixed with single outcomes, cut across row groups and parts and
    with a kept column that widens, they give the same dataset as the outcomes one by one."""
    image = ImageFile("images/a-1.png", "image/png", "ab" * 32, 1234)
    outcomes = [
        outcome(
            f"r{i}",
            line=i,
            text=f"text {i} \U0001f600" if i % 3 else "bad \ud800",
            images=(image,) if i % 4 == 0 else (),
            usage=Usage(i, 2 * i, 0, 0, 3 * i, 0),
            cost_usd=None if i == 5 else i / 100,
            started_at=T0 + timedelta(seconds=i) if i % 2 else None,
            finished_at=T0 + timedelta(seconds=i, microseconds=7),
            kept={"n": i if i < 8 else i + 0.5, "title": f"t{i}"},
        )
        for i in range(13)
    ]

    def as_columns(chunk: list[Outcome]) -> dict[str, list[Any]]:
        return outcome_codec.decode_columns([outcome_codec.encode(o) for o in chunk])

    mixed: list[Any] = [as_columns(outcomes[:7]), outcomes[7], as_columns(outcomes[8:])]
    sizes = {"rows_per_file": 5, "row_group_size": 2}
    keep = ["n", "title"]
    assert write_results(tmp_path / "a", mixed, keep_fields=keep, **sizes) == 13
    write_results(tmp_path / "b", outcomes, keep_fields=keep, **sizes)
    by_columns, by_outcomes = read_results(tmp_path / "a"), read_results(tmp_path / "b")
    assert by_columns.schema.field("n").type == pa.float64()
    assert by_columns.to_pylist() == by_outcomes.to_pylist()
    written = [pq.ParquetFile(p).metadata.num_rows for p in parts(tmp_path / "a")]
    assert sum(written) == 13 and max(written) == 5


def test_text_that_is_not_unicode_is_written_with_a_replacement_character(
    tmp_path: Path,
) -> None:
    lone = outcome("a", text="bad \ud800 \U0001f600", kept={"k": "\udfff"})
    write_results(tmp_path, [lone], keep_fields=["k"])
    read_back = read_results(tmp_path).select(["text", "k"]).to_pylist()
    assert read_back == [{"text": "bad \ufffd \U0001f600", "k": "\ufffd"}]


def test_the_contract_columns_in_order() -> None:
    assert RESULTS_SCHEMA.names == [
        "id", "status", "text", "json", "images", "function_calls", "finish_reason", "model_version",
        "input_tokens", "output_tokens", "thinking_tokens", "cached_tokens", "total_tokens", "cost_usd",
        "attempts", "latency_ms", "error_code", "error_message", "started_at", "finished_at",
        "thoughts", "service_tier",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "arrow_type", "read_back"),
    [
        (["a", None, "b"], pa.string(), ["a", None, "b"]),
        ([None, 3, -(2**63)], pa.int64(), [None, 3, -(2**63)]),
        ([1.5, 2], pa.float64(), [1.5, 2.0]),  # an int fits a float column
        ([2, 1.5], pa.float64(), [2.0, 1.5]),  # a float widens an int column
        ([True, None, False], pa.bool_(), [True, None, False]),
        (
            [[1, 2], {"k": "v"}],
            pa.string(),
            ["[1, 2]", '{"k": "v"}'],
        ),  # lists and objects as JSON
        ([None, None], pa.string(), [None, None]),
        (
            [5, "x", True],
            pa.string(),
            ["5", "x", "true"],
        ),  # does not fit: the whole column becomes string
        (
            ["x", 5, 2.5],
            pa.string(),
            ["x", "5", "2.5"],
        ),  # same values read the same whichever came first
        ([2**70], pa.string(), [str(2**70)]),
    ],
)
def test_kept_field_types(
    tmp_path: Path, values: list[Any], arrow_type: pa.DataType, read_back: list[Any]
) -> None:
    assert kept_column(tmp_path, "field", values) == (arrow_type, read_back)


def test_a_column_that_widens_later_is_rewritten_in_every_part(tmp_path: Path) -> None:
    values: list[Any] = [None] * 5 + list(range(10)) + ["late", 7]
    arrow_type, read_back = kept_column(
        tmp_path, "n", values, rows_per_file=6, row_group_size=4
    )
    assert arrow_type == pa.string()
    assert read_back == [None] * 5 + [str(v) for v in range(10)] + ["late", "7"]
    schemas = {pq.read_schema(path) for path in parts(tmp_path)}
    assert (
        len(parts(tmp_path)) >= 3 and len(schemas) == 1
    )  # every part has the final schema


def test_parts_and_row_groups_follow_the_sizes(tmp_path: Path) -> None:
    rows = [outcome(f"r{i:03d}", line=i) for i in range(25)]
    assert (
        write_results(
            tmp_path, iter(rows), keep_fields=[], rows_per_file=10, row_group_size=4
        )
        == 25
    )
    files = parts(tmp_path)
    assert [f.name for f in files] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    metadata = [pq.ParquetFile(f).metadata for f in files]
    assert [m.num_rows for m in metadata] == [10, 10, 5]
    assert [[m.row_group(g).num_rows for g in range(m.num_row_groups)] for m in metadata] == [
        [4, 4, 2], [4, 4, 2], [4, 1],
    ]  # fmt: skip
    assert read_results(tmp_path).column("id").to_pylist() == [
        o.id for o in rows
    ]  # order kept


def test_no_outcomes_still_gives_a_readable_dataset(tmp_path: Path) -> None:
    assert write_results(tmp_path, [], keep_fields=["title"]) == 0
    table = read_results(tmp_path)
    assert table.num_rows == 0 and table.schema == results_schema({"title": "string"})


def test_other_readers_read_the_dataset_as_it_is(tmp_path: Path) -> None:
    write_results(
        tmp_path,
        [outcome(f"r{i}", started_at=T0, kept={"t": i}) for i in range(7)],
        keep_fields=["t"],
        rows_per_file=3,
    )
    assert ds.dataset(tmp_path / "results").to_table().num_rows == 7
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_parquet(tmp_path / "results")
    assert sorted(frame["id"]) == sorted(f"r{i}" for i in range(7))


@pytest.mark.parametrize("reader", ["duckdb", "polars"])
def test_duckdb_and_polars_read_it_when_installed(tmp_path: Path, reader: str) -> None:
    module = pytest.importorskip(reader)
    write_results(
        tmp_path,
        [outcome(f"r{i}", kept={"t": i}) for i in range(7)],
        keep_fields=["t"],
        rows_per_file=3,
    )
    pattern = str(tmp_path / "results" / "*.parquet")
    if reader == "duckdb":
        assert module.sql(
            f"SELECT count(*) FROM read_parquet('{pattern}')"
        ).fetchone() == (7,)
    else:
        assert module.read_parquet(pattern).height == 7


def test_results_are_swapped_whole_and_leftovers_cleaned(tmp_path: Path) -> None:
    write_results(tmp_path, [outcome("old")], keep_fields=[])
    # what a write killed half-way leaves behind: a temp dir with a truncated part, an old dir never deleted
    (tmp_path / "results.tmp-dead").mkdir()
    (tmp_path / "results.tmp-dead" / "part-00000.parquet").write_bytes(
        b"PAR1 truncated"
    )
    (tmp_path / "results.old-dead").mkdir()

    def crashing() -> Any:
        yield outcome("new-1")
        raise RuntimeError("the journal went away")

    with pytest.raises(RuntimeError):
        write_results(tmp_path, crashing(), keep_fields=[])
    assert read_results(tmp_path).column("id").to_pylist() == [
        "old"
    ]  # the previous results are untouched
    write_results(tmp_path, [outcome("new-1"), outcome("new-2")], keep_fields=[])
    assert read_results(tmp_path).column("id").to_pylist() == ["new-1", "new-2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_unwritable_dir_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OutputError, match="cannot write the results"):
        write_results(tmp_path / "file", [outcome("a")], keep_fields=[])
    with pytest.raises(OutputError, match="cannot write the image"):
        write_image(tmp_path / "file", "a", 0, GeneratedImage("image/png", b"x"))
    with pytest.raises(OutputError, match="no results yet"):
        read_results(tmp_path)


@pytest.mark.parametrize("name", ["text", "id", "dup"])
def test_kept_fields_may_not_shadow_output_columns(tmp_path: Path, name: str) -> None:
    keep = ["dup", "dup"] if name == "dup" else [name]
    with pytest.raises(SpecError, match="keep_fields"):
        write_results(tmp_path, [outcome("a")], keep_fields=keep)


HOSTILE_IDS = [
    "../../x",
    "a/b",
    "a_b",
    "a\\b",
    "",
    ".",
    "..",
    "-rf",
    "x" * 300,
    "x" * 301,
    "日本",
    "a\x00b",
    "A",
    "a",
]


def test_image_names_for_hostile_ids_are_safe_and_distinct() -> None:
    names = [image_name(row_id, 0, "image/png") for row_id in HOSTILE_IDS]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}\.png", name), name
        assert name not in (".", "..") and "/" not in name
    assert image_name("a", 1, "image/png") != image_name("a", 0, "image/png")
    assert image_name("a", 0, "image/jpeg").endswith(".jpg")
    assert image_name("a", 0, "image/webp").endswith(".webp")


def test_write_image_stays_under_images(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    written = [
        write_image(
            run_dir, row_id, i, GeneratedImage("image/png", row_id.encode() + b"png")
        )
        for i, row_id in enumerate(HOSTILE_IDS)
    ]
    files = sorted((run_dir / "images").iterdir())
    assert len(files) == len(HOSTILE_IDS) and all(
        f.parent == run_dir / "images" for f in files
    )
    for row_id, image in zip(HOSTILE_IDS, written, strict=True):
        data = row_id.encode() + b"png"
        assert (
            image.path.startswith("images/")
            and (run_dir / image.path).read_bytes() == data
        )
        assert image == ImageFile(
            image.path, "image/png", hashlib.sha256(data).hexdigest(), len(data)
        )
    assert not list(tmp_path.rglob(".tmp-*"))  # no temp file left behind


@pytest.mark.parametrize(
    ("mime", "ext"),
    [
        ("image/jpeg", "jpg"),
        ("IMAGE/PNG", "png"),
        ("image/png; charset=binary", "png"),
        ("image/heic", "heic"),
        ("image/avif", "avif"),
        ("application/octet-stream", "bin"),
    ],
)
def test_image_extension_follows_the_mime_type(mime: str, ext: str) -> None:
    assert image_extension(mime) == ext
    assert image_name("r", 0, mime).endswith(f".{ext}")


def test_leftovers_of_cut_image_writes_are_removed_and_images_kept(
    tmp_path: Path,
) -> None:
    image = write_image(tmp_path, "r1", 0, GeneratedImage("image/jpeg", b"\xff\xd8"))
    cut = tmp_path / "images" / ".tmp-0123456789ab-r2-000000000000.jpg"
    cut.write_bytes(b"\xff")
    assert remove_image_leftovers(tmp_path) == 1
    assert [p.name for p in (tmp_path / "images").iterdir()] == [Path(image.path).name]
    assert remove_image_leftovers(tmp_path / "nowhere") == 0
