"""Outcomes -> the Parquet dataset in DIR/results/, and generated images -> DIR/images/.

The results are always derived from the journal, so they are written whole and swapped in: parts go to
DIR/results.tmp-<random>/, are fsync'd, and the directory is renamed into place. A crash at any point leaves
either the previous results or the new ones (or, for an instant, none: the next write rebuilds them), never a
half-written part inside DIR/results/. Leftover results.tmp-* and results.old-* are removed by the next write.

Types of the `keep_fields` columns follow `kept_types`: inferred from the values, widened to float64 or string
when a later value does not fit; parts written before a column widened are rewritten at the end, one row group
at a time, so every part has the same schema and every reader (pyarrow, pandas, polars, DuckDB) sees one table.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import OutputError, SpecError
from pipeline.records import Outcome
from pipeline.records.columns import OUTPUT

from . import _kept_types as kept_types
from ._files import (
    fsync_dir,
    fsync_file,
    image_name,
    new_temp_dir,
    remove_leftovers,
    swap_in,
    write_image,
)
from ._kept_types import Kind

if TYPE_CHECKING:
    import pyarrow.dataset as ds

RESULTS_DIR = "results"
IMAGE_TYPE = pa.struct(
    [
        ("path", pa.string()),
        ("mime_type", pa.string()),
        ("sha256", pa.string()),
        ("bytes", pa.int64()),
    ]
)
_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "images": pa.list_(IMAGE_TYPE),
}


# How each output column is read from an `Outcome` (the names and types come from pipeline.records.columns).
def _getter(name: str) -> Callable[[Outcome], Any]:
    if name == "images":
        return lambda o: [(i.path, i.mime_type, i.sha256, i.bytes) for i in o.images]
    if name.endswith("_tokens"):
        return lambda o: getattr(o.usage, name)
    return lambda o: getattr(o, name)


_COLUMNS: list[tuple[str, pa.DataType, Callable[[Outcome], Any]]] = [
    (c.name, _ARROW[c.kind], _getter(c.name)) for c in OUTPUT
]
RESULTS_SCHEMA = pa.schema([pa.field(name, type_) for name, type_, _ in _COLUMNS])
_ARROW_KIND: dict[Kind, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
}
# Columns with few distinct values; a dictionary over ids or texts costs time and memory and saves nothing.
_DICTIONARY_COLUMNS = [
    "status",
    "finish_reason",
    "model_version",
    "service_tier",
    "error_code",
]
_CHUNK_ROWS = 4096  # outcomes held as Python objects before they become Arrow arrays
# a row group ends at row_group_size rows or this many bytes, whichever comes first
_MAX_GROUP_BYTES = 64 * 1024 * 1024

# Outcomes as columns: a list per RESULTS_SCHEMA name, with timestamps as datetimes or ISO-8601 text and images
# as (path, mime_type, sha256, bytes) tuples, plus "kept": one mapping of kept fields per row. Other keys are
# ignored. This is what `outcome_codec.decode_columns` returns.
ResultColumns = Mapping[str, Sequence[Any]]


def results_schema(keep: Mapping[str, Kind]) -> pa.Schema:
    """RESULTS_SCHEMA plus the kept columns, in `keep`'s order."""
    return pa.schema(
        [
            *RESULTS_SCHEMA,
            *(pa.field(name, _ARROW_KIND[kind]) for name, kind in keep.items()),
        ]
    )


def write_results(
    run_dir: Path,
    outcomes: Iterable[Outcome | ResultColumns],
    *,
    keep_fields: Sequence[str],
    rows_per_file: int = 250_000,
    row_group_size: int = 20_000,
) -> int:
    """Write `outcomes` (in the order given) as DIR/results/part-NNNNN.parquet and return the rows written.

    Each item is one `Outcome`, or many as `ResultColumns` (how the journal replays them: no object per row).

    Memory is bounded by one row group, not by the number of outcomes. Raises `OutputError` when DIR cannot be
    written (the previous results stay in place) and `SpecError` when a kept field shadows an output column.
    """
    _check_keep_fields(keep_fields)
    run_dir = Path(run_dir)
    tmp: Path | None = None
    try:
        remove_leftovers(run_dir, RESULTS_DIR)
        tmp = new_temp_dir(run_dir, RESULTS_DIR)
        parts = _Parts(
            tmp,
            keep_fields,
            max(1, rows_per_file),
            max(1, min(row_group_size, rows_per_file)),
        )
        for outcome in outcomes:
            parts.add(outcome)
        rows = parts.close()
        swap_in(run_dir, tmp, RESULTS_DIR)
    except OSError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(
            f"{run_dir / RESULTS_DIR}: cannot write the results: {exc.strerror or exc}; free some space or fix "
            "the permissions and run the job again (the results are rebuilt from the journal)"
        ) from exc
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rows


def open_results(run_dir: Path) -> ds.Dataset:
    """DIR's results as a `pyarrow.dataset.Dataset`: nothing is read until it is scanned."""
    path = Path(run_dir) / RESULTS_DIR
    if not path.is_dir():
        raise OutputError(
            f"{run_dir} has no results yet ({path} is missing); run the job to write them"
        )
    import pyarrow.dataset as ds  # on first use: `run` never reads results back

    return ds.dataset(path, format="parquet")


def read_results(run_dir: Path) -> pa.Table:
    """The whole results dataset of DIR as one table (for status and tests; a real consumer streams it)."""
    return open_results(run_dir).to_table()


class _Parts:
    """Streams outcomes into part files of `rows_per_file` rows, one row group per `row_group_size` rows."""

    def __init__(
        self,
        folder: Path,
        keep_fields: Sequence[str],
        rows_per_file: int,
        row_group_size: int,
    ) -> None:
        self.folder = folder
        self.keep_fields = tuple(keep_fields)
        self.rows_per_file = rows_per_file
        self.row_group_size = row_group_size
        self.kinds: dict[str, Kind | None] = dict.fromkeys(self.keep_fields)
        self.pending: list[Outcome] = []
        self.chunks: list[tuple[pa.RecordBatch, dict[str, Kind]]] = []
        self.group_rows = self.group_bytes = 0
        self.written: list[
            tuple[Path, dict[str, Kind]]
        ] = []  # closed parts and the kinds they were written with
        self.writer: pq.ParquetWriter | None = None
        self.writer_kinds: dict[str, Kind] = {}
        self.part_rows = 0
        self.rows = 0

    def add(self, item: Outcome | ResultColumns) -> None:
        if not isinstance(item, Outcome):
            self._add_columns(item)
            return
        for name in self.keep_fields:
            self.kinds[name] = kept_types.widen(self.kinds[name], item.kept.get(name))
        self.pending.append(item)
        if len(self.pending) >= _CHUNK_ROWS:
            self._convert_pending()

    def _add_columns(self, columns: ResultColumns) -> None:
        self._convert_pending()  # the outcomes before these keep their place
        kept = columns["kept"]
        for name in self.keep_fields:
            kind = self.kinds[name]
            for fields in kept:
                kind = kept_types.widen(kind, fields.get(name))
            self.kinds[name] = kind
        kinds = self._current_kinds()
        self._push(_columns_batch(columns, kinds), kinds)

    def close(self) -> int:
        self._convert_pending()
        self._write_group()
        if not self.written:
            # no outcome at all: one empty part, so readers still see the schema
            self._open_part()
        self._close_part()
        final = self._current_kinds()
        for path, kinds in self.written:
            if kinds != final:
                _rewrite_part(path, kinds, final, self.row_group_size)
        for path, _ in self.written:
            fsync_file(path)
        fsync_dir(self.folder)
        return self.rows

    def _group_target(self) -> int:
        return min(self.row_group_size, self.rows_per_file - self.part_rows)

    def _current_kinds(self) -> dict[str, Kind]:
        return {name: kept_types.resolved(kind) for name, kind in self.kinds.items()}

    def _convert_pending(self) -> None:
        if not self.pending:
            return
        kinds = self._current_kinds()
        batch = _columns_batch(_outcome_columns(self.pending), kinds)
        self.pending = []
        self._push(batch, kinds)

    def _push(self, batch: pa.RecordBatch, kinds: dict[str, Kind]) -> None:
        """Queue `batch` for the current row group, cut where row groups and part files end."""
        while batch.num_rows:
            take = min(batch.num_rows, self._group_target() - self.group_rows)
            piece = batch.slice(0, take)
            batch = batch.slice(take)
            self.chunks.append((piece, kinds))
            self.group_rows += take
            self.group_bytes += piece.nbytes  # of the slice alone
            if (
                self.group_rows >= self._group_target()
                or self.group_bytes >= _MAX_GROUP_BYTES
            ):
                self._write_group()

    def _write_group(self) -> None:
        if not self.chunks:
            return
        kinds = self._current_kinds()
        if self.writer is not None and kinds != self.writer_kinds:
            self._close_part()  # a kept column widened: this part keeps its schema and is rewritten at the end
        if self.writer is None:
            self._open_part()
        table = pa.Table.from_batches(
            [_cast_batch(batch, old, kinds) for batch, old in self.chunks]
        )
        assert self.writer is not None
        # one row group per call
        self.writer.write_table(table, row_group_size=table.num_rows)
        self.part_rows += table.num_rows
        self.rows += table.num_rows
        self.chunks = []
        self.group_rows = self.group_bytes = 0
        if self.part_rows >= self.rows_per_file:
            self._close_part()

    def _open_part(self) -> None:
        self.writer_kinds = self._current_kinds()
        path = self.folder / f"part-{len(self.written):05d}.parquet"
        self.writer = _parquet_writer(path, results_schema(self.writer_kinds))
        self.written.append((path, self.writer_kinds))

    def _close_part(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            self.part_rows = 0


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    return pq.ParquetWriter(
        path, schema, compression="zstd", use_dictionary=_DICTIONARY_COLUMNS
    )


def _outcome_columns(outcomes: list[Outcome]) -> dict[str, list[Any]]:
    columns = {name: [get(o) for o in outcomes] for name, _, get in _COLUMNS}
    columns["kept"] = [o.kept for o in outcomes]
    return columns


def _columns_batch(columns: ResultColumns, kinds: Mapping[str, Kind]) -> pa.RecordBatch:
    arrays = [_array(columns[name], type_) for name, type_, _ in _COLUMNS]
    kept = columns["kept"]
    for name, kind in kinds.items():
        values = [kept_types.convert(kind, fields.get(name)) for fields in kept]
        arrays.append(_array(values, _ARROW_KIND[kind]))
    return pa.RecordBatch.from_arrays(arrays, schema=results_schema(kinds))


def _array(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(type_) and str in map(type, values):
        # ISO-8601 text from the journal: parsed by Arrow, not one datetime object per value
        return pa.array(values, type=pa.string()).cast(type_)
    try:
        return pa.array(values, type=type_)
    except UnicodeEncodeError:
        # A lone surrogate (a reply's JSON can carry one) is not UTF-8, which Parquet strings must be: it
        # becomes U+FFFD here; the journal keeps the exact text.
        return pa.array(
            [_valid_utf8(v) if isinstance(v, str) else v for v in values], type=type_
        )


def _valid_utf8(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _cast_batch(
    batch: pa.RecordBatch, old: Mapping[str, Kind], new: Mapping[str, Kind]
) -> pa.RecordBatch:
    """`batch` (kept columns typed as `old`) with its kept columns converted to `new` (never narrower)."""
    if old == new:
        return batch
    arrays = list(batch.columns)
    for position, name in enumerate(new, start=len(RESULTS_SCHEMA)):
        if old[name] != new[name]:
            arrays[position] = _widen_array(arrays[position], new[name])
    return pa.RecordBatch.from_arrays(arrays, schema=results_schema(new))


def _widen_array(array: pa.Array, kind: Kind) -> pa.Array:
    # all null, or int64 -> float64: a cast; a number or bool -> string: its JSON text
    if array.null_count == len(array) or kind != "string":
        return array.cast(_ARROW_KIND[kind], safe=False)
    values = [kept_types.as_string(value) for value in array.to_pylist()]
    return pa.array(values, type=pa.string())


def _rewrite_part(
    path: Path, old: Mapping[str, Kind], new: Mapping[str, Kind], row_group_size: int
) -> None:
    tmp = path.with_name(f".rewrite-{path.name}")
    source = pq.ParquetFile(path)
    with _parquet_writer(tmp, results_schema(new)) as writer:
        for group in range(source.num_row_groups):
            table = source.read_row_group(group)
            batches = [_cast_batch(batch, old, new) for batch in table.to_batches()]
            writer.write_table(
                pa.Table.from_batches(batches, results_schema(new)),
                row_group_size=table.num_rows,
            )
    source.close()
    os.replace(tmp, path)


def _check_keep_fields(keep_fields: Sequence[str]) -> None:
    taken = set(RESULTS_SCHEMA.names)
    for name in keep_fields:
        if name in taken:
            raise SpecError(
                f"{name!r} is already an output column (or listed twice); drop it from keep_fields",
                key="output.keep_fields",
            )
        taken.add(name)


__all__ = [
    "IMAGE_TYPE",
    "RESULTS_DIR",
    "RESULTS_SCHEMA",
    "ResultColumns",
    "image_name",
    "open_results",
    "read_results",
    "results_schema",
    "write_image",
    "write_results",
]
