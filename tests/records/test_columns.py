"""The one column table: the journal, the results and the README all follow `pipeline.records.columns`."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from pipeline.records.columns import COLUMNS, JOURNAL, OUTPUT
from pipeline.results._parquet import RESULTS_SCHEMA
from pipeline.store._codec import COLUMNS as JOURNAL_COLUMNS

README = Path(__file__).resolve().parents[2] / "README.md"
README_TYPES = {
    pa.string(): "string",
    pa.int32(): "int32",
    pa.int64(): "int64",
    pa.float64(): "float64",
    pa.timestamp("us", tz="UTC"): "timestamp[us, UTC]",
}


def readme_columns() -> list[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- columns:start -->")[1].split("<!-- columns:end -->")[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \| (.+) \|$", block, re.MULTILINE)
    return [(name, type_.strip(), meaning.strip()) for name, type_, meaning in rows]


def test_the_journal_order_is_append_only() -> None:
    assert [c.journal_order for c in JOURNAL] == list(range(len(COLUMNS)))
    assert JOURNAL_COLUMNS == tuple(c.name for c in JOURNAL)


def test_the_results_schema_follows_the_table() -> None:
    assert RESULTS_SCHEMA.names == [c.name for c in OUTPUT]


def test_the_readme_table_is_the_column_table() -> None:
    expected = []
    for c in OUTPUT:
        arrow = RESULTS_SCHEMA.field(c.name).type
        type_ = README_TYPES.get(arrow, "list<struct<path, mime_type, sha256, bytes>>")
        expected.append((c.name, type_, c.meaning))
    assert readme_columns() == expected
