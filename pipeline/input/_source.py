"""Input rows, streamed in file order with bounded memory: JSONL line by line, Parquet batch by batch.

Every line becomes either a `Row` (ready for `prompt.build_prompt`) or an `InvalidRow` with its 1-based line
number and the reason, so that one bad line never stops a run. Blank lines are skipped and get no row.

Ids: a row's `id` (a string, or an integer taken as its decimal string); a row without one, or with null, gets
"row-" + 16 hex of the sha256 of its canonical JSON, so the same content gets the same id on every run and a
resumed run finds it again. A repeated id is an InvalidRow with id "<id>#line<N>": the first row keeps the id.

Memory: seen ids are kept as 8-byte blake2b digests in an open-addressing table of two arrays (`_IdIndex`),
12 to 24 bytes per id (under 40 MB peak for 1,000,000 ids, during a resize), where a dict of ints would
need about 110 MB. Two distinct ids share a digest with probability about n^2 / 2^65 (3e-8 for a million
ids); such a pair would be reported as a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipeline.errors import RowInvalid
from pipeline.records import InvalidRow, MediaRef, Row
from pipeline.spec import InputShard, InputSpec, JobSpec, apply_row_overrides
from pipeline.storage import Location, location

from ._prompt import render_template

_PARQUET_BATCH_ROWS = 1024
_decode = json.JSONDecoder().decode
_blake2b = hashlib.blake2b


def iter_rows(spec: JobSpec) -> Iterator[Row | InvalidRow]:
    """Yield one Row or InvalidRow per non-blank input line (per Parquet row), in file order.

    With `spec.input.shard`, only that range of rows (a cluster worker's share), with the same ids, line numbers
    and duplicates as in a run of the whole file.
    """
    ids = _IdIndex()
    shard = spec.input.shard
    if shard is not None:
        for row_id, first in shard.seen_before:
            ids.first_line(row_id, first)
    for line, parsed in _read(spec.input.path, shard):
        if isinstance(parsed, str):
            yield InvalidRow(id=f"line-{line}", line=line, reason=parsed)
        else:
            yield _to_row(spec, ids, line, parsed)


def count_rows(source: str | Path | InputSpec) -> int:
    """The number of rows `iter_rows` will yield (valid or not), for progress and ETA; blank lines skipped.

    An `InputSpec` restricted to a shard counts the shard's rows (known from the plan: no read at all).
    """
    if isinstance(source, InputSpec):
        if source.shard is not None:
            return source.shard.rows
        source = source.path
    where = location(source)
    if _is_parquet(where):
        return int(pq.ParquetFile(_arrow_source(source, where)).metadata.num_rows)
    count = 0
    with where.open_stream() as lines:
        for raw in lines:
            if raw.strip():
                count += 1
    return count


def plan_shards(path: str | Path, shard_rows: int) -> list[InputShard]:
    """Split the input into shards of `shard_rows` rows (the last one shorter), streaming it once.

    Each shard knows where it starts (line and byte offset) and which of its ids an earlier shard already has,
    so the shards together yield exactly the rows of a run of the whole file. At least one shard is returned
    (an empty input gives one empty shard).
    """
    shard_rows = max(1, shard_rows)
    ids = _IdIndex()
    shards: list[InputShard] = []
    current = InputShard(index=0, first_line=1, end_line=1, offset=0)
    seen_before: list[tuple[str, int]] = []
    rows = 0
    last_line = 0
    for line, offset, parsed in _scan(path):
        if rows == shard_rows:
            shards.append(
                replace(
                    current, end_line=line, rows=rows, seen_before=tuple(seen_before)
                )
            )
            current = InputShard(
                index=len(shards), first_line=line, end_line=line, offset=offset
            )
            seen_before = []
            rows = 0
        rows += 1
        last_line = line
        row_id = _row_id(parsed) if isinstance(parsed, dict) else None
        if row_id is not None:
            first = ids.first_line(row_id, line)
            if first is not None and first < current.first_line:
                seen_before.append((row_id, first))
    shards.append(
        replace(
            current,
            end_line=max(current.first_line, last_line + 1),
            rows=rows,
            seen_before=tuple(seen_before),
        )
    )
    return shards


def _is_parquet(where: Location) -> bool:
    return where.suffix.lower() in (".parquet", ".pq")


def _arrow_source(path: str | Path, where: Location) -> Any:
    """What `pq.ParquetFile` opens: the local path as given, or a remote file read by byte ranges."""
    return path if where.local is not None else where.arrow_file()


def _read(
    path: str | Path, shard: InputShard | None = None
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, the parsed object or the reason it is not one), for the whole file or one shard."""
    for line, _, parsed in _scan(path, shard):
        yield line, parsed


def _scan(
    path: str | Path, shard: InputShard | None = None
) -> Iterator[tuple[int, int, dict[str, Any] | str]]:
    """(line number, byte offset of the line (JSONL; 0 for Parquet), parsed object or reason)."""
    where = location(path)
    first = 1 if shard is None else shard.first_line
    end = None if shard is None else shard.end_line
    if _is_parquet(where):
        parquet = pq.ParquetFile(_arrow_source(path, where))
        line = 0
        for group in range(parquet.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            if line + size < first:
                line += size  # a whole row group before the shard: not even read
                continue
            if end is not None and line + 1 >= end:
                return
            for batch in parquet.iter_batches(
                batch_size=_PARQUET_BATCH_ROWS, row_groups=[group]
            ):
                for record in batch.to_pylist():
                    line += 1
                    if line < first:
                        continue
                    if end is not None and line >= end:
                        return
                    yield line, 0, record
        return
    # A shard seeks to its first byte: a random-access reader (ranged GETs on a bucket).
    with where.open_input() if shard is not None else where.open_stream() as lines:
        offset = 0
        if shard is not None and shard.offset:
            lines.seek(shard.offset)
            offset = shard.offset
        for line, raw in enumerate(lines, start=first):
            at = offset
            offset += len(raw)
            if end is not None and line >= end:
                return
            if line == 1:
                raw = raw.removeprefix(
                    b"\xef\xbb\xbf"
                )  # a UTF-8 byte order mark, as some editors write
            if not raw.strip():
                continue
            yield line, at, _parse_line(raw)


def _parse_line(raw: bytes) -> dict[str, Any] | str:
    try:
        # Decoded first: json.loads(bytes) sniffs the encoding on every call.
        parsed = _decode(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(parsed, dict):
        return f"expected a JSON object, got {_kind(parsed)}"
    return parsed


def _row_id(fields: dict[str, Any]) -> str | None:
    """The row's id, or None when its `id` is not usable (the row is invalid and gets `line-N`)."""
    raw_id = fields.get("id")
    if raw_id is None:
        return _content_id(fields)
    if isinstance(raw_id, str) and raw_id.strip():
        return raw_id
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        return str(raw_id)
    return None


def _to_row(
    spec: JobSpec, ids: _IdIndex, line: int, fields: dict[str, Any]
) -> Row | InvalidRow:
    raw_id = fields.get("id")
    row_id = _row_id(fields)
    if row_id is None:
        reason = f"id: expected a non-empty string or an integer, got {_kind(raw_id)}"
        return InvalidRow(id=f"line-{line}", line=line, reason=reason, fields=fields)
    first = ids.first_line(row_id, line)
    if first is not None:
        reason = f"duplicate id {row_id!r} (first seen on line {first})"
        if raw_id is None:
            reason += "; rows without an id get one from their content, so identical rows need distinct ids"
        return InvalidRow(
            id=f"{row_id}#line{line}", line=line, reason=reason, fields=fields
        )
    try:
        return _parse_row(spec, row_id, line, fields)
    except RowInvalid as exc:
        return InvalidRow(id=row_id, line=line, reason=exc.reason, fields=fields)


def _parse_row(spec: JobSpec, row_id: str, line: int, fields: dict[str, Any]) -> Row:
    if spec.prompt.template is not None:
        text = render_template(spec.prompt.template, fields)
    elif "prompt" not in fields or fields["prompt"] is None:
        raise RowInvalid(
            'missing "prompt" field; add one, or set [prompt] template in the job spec'
        )
    elif not isinstance(fields["prompt"], str):
        raise RowInvalid(f"prompt: expected a string, got {_kind(fields['prompt'])}")
    else:
        text = fields["prompt"]
    system = fields.get("system")
    if system is not None and not isinstance(system, str):
        raise RowInvalid(f"system: expected a string, got {_kind(system)}")
    generation = fields.get("generation")
    if generation is None:
        generation = {}
    else:  # checked now, so that build_prompt cannot fail on this row later
        apply_row_overrides(spec.generation, generation, spec.provider.model)
    media = _media(fields.get("media"))
    if not text.strip() and not media:
        raise RowInvalid(
            "the prompt is empty and the row has no media; there is nothing to send"
        )
    return Row(row_id, line, fields, text, system, media, generation)


def _media(value: Any) -> tuple[MediaRef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RowInvalid(f"media: expected a list of paths, got {_kind(value)}")
    refs: list[MediaRef] = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            refs.append(MediaRef(item))
            continue
        if isinstance(item, Mapping) and set(item) <= {"path", "mime_type"}:
            path, mime_type = item.get("path"), item.get("mime_type")
            if (
                isinstance(path, str)
                and path.strip()
                and (mime_type is None or isinstance(mime_type, str))
            ):
                refs.append(MediaRef(path, mime_type or None))
                continue
        raise RowInvalid(
            f'media[{i}]: expected a path or {{"path": ..., "mime_type": ...}}, got {_kind(item)}'
        )
    return tuple(refs)


def _content_id(fields: Mapping[str, Any]) -> str:
    content = {key: value for key, value in fields.items() if key != "id"}
    canonical = json.dumps(
        content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return "row-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=False)
        return shown if len(shown) <= 40 else shown[:37] + '..."'
    if isinstance(value, int | float):
        return repr(value)
    names: dict[type, str] = {list: "a list", dict: "an object"}
    return names.get(type(value), f"a {type(value).__name__}")


class _IdIndex:
    """Id -> the line it was first seen on, as an open-addressing table over two flat arrays.

    Keys are 64-bit blake2b digests (0 marks an empty slot), probed linearly; the table doubles at half full.
    """

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._keys = array("Q", [0]) * capacity
        self._lines = array("I", [0]) * capacity
        self._used = 0

    def first_line(self, row_id: str, line: int) -> int | None:
        """The line `row_id` was first seen on, or None after recording it as first seen on `line`."""
        encoded = row_id.encode("utf-8", "surrogatepass")
        key = int.from_bytes(_blake2b(encoded, digest_size=8).digest(), "little") or 1
        slot = self._slot(key)
        if self._keys[slot] == key:
            return self._lines[slot]
        self._keys[slot] = key
        self._lines[slot] = line
        self._used += 1
        if self._used * 2 > len(self._keys):
            self._grow()
        return None

    def _slot(self, key: int) -> int:
        """Where `key` is, or else the empty slot where it belongs."""
        keys = self._keys
        mask = len(keys) - 1
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key or not found:
                return slot
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        old_keys, old_lines = self._keys, self._lines
        self._keys = array("Q", [0]) * (len(old_keys) * 2)
        self._lines = array("I", [0]) * (len(old_keys) * 2)
        for key, line in zip(old_keys, old_lines, strict=True):
            if key:
                slot = self._slot(key)
                self._keys[slot] = key
                self._lines[slot] = line
