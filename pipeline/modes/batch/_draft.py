"""One batch job while its input file is written: keyed JSONL lines on disk, its rows journaled as they go.

A draft never holds its lines or its rows in memory: each line is written to `DIR/batch/<local id>.jsonl` as
it is built, and its row (id, line, kept fields, generation overrides) joins the job in the journal in groups
of `ROWS_PER_WRITE`. `fits` keeps the file under the size limit, the job under the enqueued-token quota and the
row limit, so the run splits a large input into several jobs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ("JobDraft", "JobLimits", "row_mapping")

ROWS_PER_WRITE = 2_000
_WRITE_BUFFER = 1 << 20


@dataclass(frozen=True, slots=True)
class JobLimits:
    """What one job may hold: input file bytes (lines only), estimated input tokens, rows."""

    max_bytes: int
    max_tokens: int | None
    max_rows: int | None


RowMapping = tuple[str, int | None, str | None, str | None]


def row_mapping(
    row_id: str,
    line: int | None,
    kept: Mapping[str, Any] | None,
    generation: Mapping[str, Any] | None,
) -> RowMapping:
    """What the journal keeps of a row in a job: enough to turn its result line into an outcome."""
    return (
        row_id,
        line,
        _compact(kept) if kept else None,
        _compact(generation) if generation else None,
    )


def _compact(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass(slots=True)
class JobDraft:
    """The job being written: its file, its counts, and the rows not yet handed to the journal."""

    local_id: str
    display_name: str
    path: Path
    limits: JobLimits
    tail: bytes = b""
    line_bytes: int = 0  # lines only, without the multipart frame
    framed: int = 0  # what goes over the wire: frame and lines
    rows: int = 0
    tokens: int = 0
    worst_usd: float = 0.0
    unsaved: list[RowMapping] = field(default_factory=list)
    _file: IO[bytes] | None = None

    @classmethod
    def open(
        cls,
        local_id: str,
        display_name: str,
        path: Path,
        limits: JobLimits,
        frame: tuple[bytes, bytes],
    ) -> JobDraft:
        head, tail = frame
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = cls(local_id, display_name, path, limits, tail=tail)
        draft._file = open(path, "wb", buffering=_WRITE_BUFFER)  # noqa: SIM115 (closed by close())
        draft._file.write(head)
        draft.framed = len(head)
        return draft

    def fits(self, line_bytes: int, tokens: int) -> bool:
        """Whether one more line keeps the job within its limits (an empty job takes any line)."""
        if self.rows == 0:
            return True
        limits = self.limits
        if self.line_bytes + line_bytes > limits.max_bytes:
            return False
        if limits.max_tokens is not None and self.tokens + tokens > limits.max_tokens:
            return False
        return limits.max_rows is None or self.rows < limits.max_rows

    def add(
        self, line: bytes, mapping: RowMapping, tokens: int, worst_usd: float
    ) -> None:
        assert self._file is not None
        self._file.write(line)
        self.line_bytes += len(line)
        self.framed += len(line)
        self.rows += 1
        self.tokens += tokens
        self.worst_usd += worst_usd
        self.unsaved.append(mapping)

    def take_unsaved(self) -> list[RowMapping]:
        rows, self.unsaved = self.unsaved, []
        return rows

    def close(self) -> int:
        """Finish the file; returns its size (what is uploaded)."""
        if self._file is not None:
            self._file.write(self.tail)
            self.framed += len(self.tail)
            self._file.close()
            self._file = None
        return self.framed

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)
