"""A finished job's results -> outcomes in the journal, one bounded chunk of lines at a time.

The result file is on disk (streamed there by the transport) and is read line by line in a worker thread, at
most `CHUNK_LINES` lines or `CHUNK_BYTES` bytes at a time, so memory stays flat however large it is (a line
with a 4K image is several MB of base64). Each line is matched to its row by key through the journal
(`batch_rows`), parsed by the provider exactly as an online reply is judged, priced at the batch rate, its
images written to DIR/images/, and recorded. Lines of rows that another job holds now, or that already have an
outcome from this job (a collection a crash cut short), are skipped: nothing is recorded, or counted as spent,
twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import anyio

from pipeline.catalog import Price, cost_usd
from pipeline.engine import RunStats
from pipeline.errors import PipelineError, RowInvalid
from pipeline.providers import BatchLine, Provider
from pipeline.records import ImageFile, Outcome, Prompt, Reply, Usage
from pipeline.results import write_image
from pipeline.spec import JobSpec, apply_row_overrides
from pipeline.store import BatchJobRecord, Journal

__all__ = ("Collected", "Collector", "record_all")

CHUNK_LINES = 1_000
CHUNK_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class Collected:
    """What one job's results gave: outcomes recorded, lines skipped (another job's, already recorded),
    lines that could not be read or matched to a row."""

    recorded: int = 0
    skipped: int = 0
    unreadable: int = 0
    spent_usd: float = 0.0


async def record_all(journal: Journal, outcomes: Iterable[Outcome]) -> None:
    """Record outcomes concurrently: they share the journal's group commits (one transaction, not one each)."""
    async with anyio.create_task_group() as group:
        for outcome in outcomes:
            group.start_soon(journal.record, outcome)


@dataclass(slots=True)
class Collector:
    """Turns result files and leftover rows into outcomes for one run."""

    journal: Journal
    provider: Provider
    spec: JobSpec
    price: Price | None
    run_dir: Path
    stats: RunStats
    _prompts: dict[str | None, Prompt] = field(default_factory=dict)

    async def collect_file(
        self, path: Path, job: BatchJobRecord, started_at: datetime
    ) -> Collected:
        done = Collected()
        with open(path, "rb") as file:  # noqa: ASYNC230 (read in a worker thread, chunk by chunk)
            while True:
                lines = await anyio.to_thread.run_sync(_read_chunk, file)
                if not lines:
                    return done
                outcomes = await anyio.to_thread.run_sync(
                    self._outcomes, lines, job, started_at, done
                )
                await self._record(outcomes, done)

    async def fail_leftover(
        self, job: BatchJobRecord, started_at: datetime, code: str, message: str
    ) -> int:
        """Every row of `job` that has no outcome from it ends `failed` with `code`; returns how many."""
        after = ""
        count = 0
        while True:
            rows = await anyio.to_thread.run_sync(
                self.journal.batch_leftover, job.local_id, started_at, after
            )
            if not rows:
                return count
            after = rows[-1][0]
            now = datetime.now(UTC)
            outcomes = [
                Outcome(
                    id=row_id,
                    status="failed",
                    cost_usd=None if self.price is None else 0.0,
                    attempts=1,
                    error_code=code,
                    error_message=message,
                    started_at=started_at,
                    finished_at=now,
                    line=line,
                    kept=_kept(kept),
                )
                for row_id, line, kept in rows
            ]
            await self._record(outcomes, Collected())
            count += len(outcomes)

    async def count_leftover(self, job: BatchJobRecord, started_at: datetime) -> int:
        rows = await anyio.to_thread.run_sync(
            self.journal.batch_leftover, job.local_id, started_at, "", 1
        )
        return len(rows)

    async def _record(self, outcomes: list[Outcome], done: Collected) -> None:
        await record_all(self.journal, outcomes)
        for outcome in outcomes:
            self.stats.row_done(outcome)
            done.recorded += 1
            done.spent_usd += outcome.cost_usd or 0.0

    def _outcomes(
        self,
        raw_lines: list[bytes],
        job: BatchJobRecord,
        started_at: datetime,
        done: Collected,
    ) -> list[Outcome]:
        """Parse a chunk of lines (in a worker thread) into the outcomes they give."""
        lines: list[BatchLine] = []
        for raw in raw_lines:
            try:
                line = self.provider.parse_batch_line(raw)
            except PipelineError:
                done.unreadable += 1
                continue
            if line.key is None:
                done.unreadable += 1
                continue
            lines.append(line)
        keys = [line.key for line in lines if line.key is not None]
        info = self.journal.batch_row_info(keys)
        recorded = self.journal.batch_collected(keys, started_at)
        outcomes: list[Outcome] = []
        now = datetime.now(UTC)
        for line in lines:
            key = line.key
            assert key is not None
            held = info.get(key)
            if held is None or held[0] != job.local_id or key in recorded:
                done.skipped += 1
                continue
            recorded.add(key)  # a key repeated in the file counts once
            _, row_line, kept, generation = held
            outcomes.append(
                self._outcome(
                    line, key, row_line, _kept(kept), generation, started_at, now
                )
            )
        return outcomes

    def _outcome(
        self,
        line: BatchLine,
        key: str,
        row_line: int | None,
        kept: dict[str, Any],
        generation: str | None,
        started_at: datetime,
        now: datetime,
    ) -> Outcome:
        common: dict[str, Any] = {
            "id": key,
            "attempts": 1,
            "started_at": started_at,
            "finished_at": now,
            "line": row_line,
            "kept": kept,
        }
        try:
            reply = self.provider.parse_batch_reply(line, self._prompt(generation))
        except PipelineError as exc:
            usage = getattr(exc, "usage", None) or Usage()
            cost = cost_usd(usage, self.price, batch=True)
            return Outcome(
                status="failed",
                usage=usage,
                cost_usd=None if self.price is None else (cost or 0.0),
                error_code=str(getattr(exc, "code", None) or type(exc).__name__),
                error_message=str(exc),
                **common,
            )
        return Outcome(
            status=reply.status,
            usage=reply.usage,
            text=reply.text,
            json=reply.json,
            images=self._images(key, reply),
            function_calls=reply.function_calls,
            finish_reason=reply.finish_reason,
            model_version=reply.model_version,
            cost_usd=cost_usd(
                reply.usage, self.price, images=len(reply.images), batch=True
            ),
            error_code=reply.error_code,
            error_message=reply.error_message,
            thoughts=reply.thoughts,
            service_tier=reply.service_tier,
            **common,
        )

    def _images(self, key: str, reply: Reply) -> tuple[ImageFile, ...]:
        return tuple(
            write_image(self.run_dir, key, index, image)
            for index, image in enumerate(reply.images)
        )

    def _prompt(self, generation: str | None) -> Prompt:
        """What parsing a reply needs of the request: the model and the row's generation settings."""
        prompt = self._prompts.get(generation)
        if prompt is None:
            model = self.spec.provider.model
            settings = self.spec.generation
            if generation is not None:
                try:
                    settings = apply_row_overrides(
                        settings, json.loads(generation), model
                    )
                except (
                    RowInvalid
                ):  # checked when the row was built; keep the spec's settings
                    pass
            prompt = Prompt(row_id="", model=model, parts=(), generation=settings)
            if len(self._prompts) > 256:
                self._prompts.clear()
            self._prompts[generation] = prompt
        return prompt


def _kept(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _read_chunk(file: IO[bytes]) -> list[bytes]:
    """The next lines (blank ones skipped), at most CHUNK_LINES of them or about CHUNK_BYTES."""
    lines: list[bytes] = []
    size = 0
    while len(lines) < CHUNK_LINES and size < CHUNK_BYTES:
        raw = file.readline()
        if not raw:
            break
        if raw.strip():
            lines.append(raw)
            size += len(raw)
    return lines
