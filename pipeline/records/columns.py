"""The one table of the columns a row's outcome is stored and published as.

Every other list of columns is derived from this one: the journal's `outcomes` table and its codec order
(`store`), the Parquet schema of DIR/results (`results`), the check that a kept input field does not shadow an
output column (`spec`), and the README's column table (a test keeps it in step). Adding a column is one line
here plus its field on `records.Outcome`; an existing journal gains the column on open (`ALTER TABLE`).

`kind` is a neutral type name; `results` maps it to an Arrow type, `store` to a SQLite declaration. Order
matters twice: the output columns appear in DIR/results in `OUTPUT` order, and the journal selects them in
`JOURNAL` order (new columns go last there, so the codec's tuple positions of older columns never move).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = (
    "COLUMNS",
    "JOURNAL",
    "OUTPUT",
    "Column",
    "Kind",
    "column",
)

Kind = Literal["string", "int32", "int64", "float64", "timestamp", "images", "json"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its name, neutral type and meaning; whether DIR/results has it; its journal position."""

    name: str
    kind: Kind
    meaning: str
    output: bool  # False: only the journal keeps it
    journal_order: (
        int  # position in the journal's outcomes table (append-only: never renumber)
    )
    not_null: bool = False


_TOKEN = "token usage as the provider reported it"

COLUMNS: tuple[
    Column, ...
] = (  # in the order of DIR/results; journal-only columns last
    Column("id", "string", "the row's id", True, 0, not_null=True),
    Column(
        "status",
        "string",
        "`ok`, `failed`, `blocked`, `truncated` or `invalid`",
        True,
        2,
        not_null=True,
    ),
    Column("text", "string", "the reply's text, thought parts left out", True, 14),
    Column(
        "json",
        "string",
        "the parsed structured reply, re-serialised, when JSON was asked for",
        True,
        15,
    ),
    Column(
        "images",
        "images",
        "generated images, written under `DIR/images/`, paths relative to DIR",
        True,
        21,
    ),
    Column(
        "function_calls",
        "string",
        "JSON list of the function calls that the model asked for",
        True,
        16,
    ),
    Column("finish_reason", "string", "as the provider said it", True, 17),
    Column("model_version", "string", "as the provider said it", True, 18),
    Column(
        "input_tokens",
        "int64",
        f"{_TOKEN}: the prompt, cached part included",
        True,
        4,
        not_null=True,
    ),
    Column(
        "output_tokens",
        "int64",
        f"{_TOKEN}: the reply (candidates)",
        True,
        5,
        not_null=True,
    ),
    Column("thinking_tokens", "int64", f"{_TOKEN}: thoughts", True, 6, not_null=True),
    Column(
        "cached_tokens",
        "int64",
        f"{_TOKEN}: cached content read",
        True,
        7,
        not_null=True,
    ),
    Column("total_tokens", "int64", f"{_TOKEN}: total", True, 8, not_null=True),
    Column(
        "cost_usd",
        "float64",
        "this row's cost from the price table, at the tier it was served at",
        True,
        3,
    ),
    Column("attempts", "int32", "requests sent for this row", True, 10, not_null=True),
    Column("latency_ms", "float64", "time of the last attempt", True, 11),
    Column(
        "error_code",
        "string",
        "why a row is not `ok` (the provider's status, e.g. `RESOURCE_EXHAUSTED`, or the pipeline's own reason)",
        True,
        19,
    ),
    Column(
        "error_message",
        "string",
        "the server's own explanation (`finishMessage`, `blockReasonMessage`, the error body) or the pipeline's",
        True,
        20,
    ),
    Column("started_at", "timestamp", "when the row's first attempt started", True, 12),
    Column("finished_at", "timestamp", "when the row got its outcome", True, 13),
    Column(
        "thoughts",
        "string",
        "thought summaries asked for with `include_thoughts`, never mixed into `text`",
        True,
        23,
    ),
    Column(
        "service_tier",
        "string",
        "the tier the provider says it served the reply at; prices follow it",
        True,
        24,
    ),
    Column("line", "int64", "the row's line in the input", False, 1, not_null=True),
    Column(
        "image_output_tokens",
        "int64",
        "output tokens spent on images",
        False,
        9,
        not_null=True,
    ),
    Column(
        "kept",
        "json",
        "the `keep_fields`, published as columns of their own",
        False,
        22,
    ),
)

JOURNAL: tuple[Column, ...] = tuple(sorted(COLUMNS, key=lambda c: c.journal_order))
OUTPUT: tuple[Column, ...] = tuple(c for c in COLUMNS if c.output)
_BY_NAME = {c.name: c for c in COLUMNS}


def column(name: str) -> Column:
    """The column called `name`; KeyError when there is none."""
    return _BY_NAME[name]
