"""The shards' results as one dataset: DIR/results/ with one row per input id, and DIR/summary.json.

Each shard wrote DIR/shards/<k>/results/ from its own journal (its rows, pending ones included). They are copied
batch by batch into DIR/results/part-<k>.parquet under one unified schema (a kept field may be all null in one
shard), image paths rewritten to stay relative to DIR (`shards/<k>/images/...`). Memory: one batch at a time.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipeline.storage import Location

RESULTS_DIR = "results"
SUMMARY_NAME = "summary.json"


def _dataset(where: Location) -> ds.Dataset | None:
    fs, path = where.arrow_filesystem()
    if not where.is_dir():
        return None
    return ds.dataset(path, filesystem=fs, format="parquet")


def compact_results(root: Location, shards: list[Location]) -> int:
    """Write DIR/results/ from the shards' results; returns the rows written."""
    datasets = [(k, _dataset(shard / RESULTS_DIR)) for k, shard in enumerate(shards)]
    present = [(k, d) for k, d in datasets if d is not None]
    if not present:
        return 0
    schema = pa.unify_schemas(
        [d.schema for _, d in present], promote_options="permissive"
    )
    fs, target = (root / RESULTS_DIR).arrow_filesystem()
    local = root.local
    staging = f"{target}.tmp-{secrets.token_hex(6)}" if local is not None else target
    before = {name for name, _ in (root / RESULTS_DIR).list_files()}
    fs.create_dir(staging, recursive=True)
    rows = 0
    written: set[str] = set()
    for k, dataset in present:
        name = f"part-{k:05d}.parquet"
        with pq.ParquetWriter(f"{staging}/{name}", schema, filesystem=fs) as writer:
            for batch in dataset.to_batches():
                table = pa.Table.from_batches([batch]).cast(schema)
                table = _rebase_images(table, f"shards/{k}/")
                writer.write_table(table)
                rows += table.num_rows
        written.add(name)
    if local is not None:
        final = Path(target)
        old = final.with_name(f"{final.name}.old-{secrets.token_hex(6)}")
        if final.exists():
            os.rename(final, old)
        os.rename(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        for name in before - written:
            (root / RESULTS_DIR / name).delete()
    return rows


def _rebase_images(table: pa.Table, prefix: str) -> pa.Table:
    if "images" not in table.column_names:
        return table
    column = table.column("images")
    values = column.to_pylist()
    if not any(values):
        return table
    for images in values:
        for image in images or ():
            if image and image.get("path"):
                image["path"] = prefix + image["path"]
    index = table.column_names.index("images")
    return table.set_column(index, "images", pa.array(values, type=column.type))


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The shards' summaries as one: counts, tokens and money added up; the rest from the first shard."""
    merged: dict[str, Any] = {}
    for summary in summaries:
        _add(merged, summary)
    merged["shards"] = len(summaries)
    stops = [s.get("stopped") for s in summaries if s.get("stopped")]
    merged["stopped"] = stops[0] if stops else None
    return merged


def _add(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if key not in into or into[key] is None:
            into[key] = json.loads(json.dumps(value)) if value is not None else None
        elif isinstance(value, dict) and isinstance(into[key], dict):
            _add(into[key], value)
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and isinstance(into[key], int | float)
            and key not in ("limit_usd",)
        ):
            into[key] = into[key] + value


def write_summary(root: Location, summary: dict[str, Any]) -> None:
    (root / SUMMARY_NAME).write_bytes(
        (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode()
    )
