"""Journaling off: the journal's interface over plain dicts, for the benchmark that prices durability.

Nothing survives the process, so a run with it cannot be resumed; `Journal.open(..., durable=False)` is the only
way to get one, and it still locks DIR so two runs never write the same results.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio

from pipeline.records import AttemptRecord, JournalTotals, Outcome, UploadedFile, Usage

from . import _codec as outcome_codec
from ._codec import NO_LINE
from ._reader import UPLOAD_MARGIN, add_tier


class MemoryJournal:
    """An in-memory `RunJournal`: same methods and semantics as `Journal`, no durability."""

    def __init__(self, run_dir: Path, *, release: Callable[[], None]) -> None:
        self.path = run_dir
        self._release = release
        self._outcomes: dict[str, Outcome] = {}
        self._meta: dict[str, str] = {}
        self._uploads: dict[str, UploadedFile] = {}
        self._spent = 0.0
        self._attempts: list[AttemptRecord] = []
        self._entered = False

    async def __aenter__(self) -> Self:
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered = False
        self.close()

    async def record(self, outcome: Outcome) -> None:
        if not self._entered:
            raise RuntimeError(
                "MemoryJournal.record() needs the journal entered: `async with journal: ...`"
            )
        self._outcomes[outcome.id] = outcome
        self._spent += outcome.cost_usd or 0.0
        # a scheduling point, as the durable journal has
        await anyio.lowlevel.checkpoint()

    def note_attempt(self, attempt: AttemptRecord) -> None:
        self._attempts.append(attempt)

    def iter_attempts(self, batch_size: int = 10_000) -> Iterator[AttemptRecord]:
        return iter(list(self._attempts))

    async def flush(self) -> None:
        await anyio.lowlevel.checkpoint()

    def final_ids(self, *, retry_failed: bool = False) -> set[str]:
        statuses = (
            ("ok", "blocked")
            if retry_failed
            else ("ok", "blocked", "failed", "truncated")
        )
        return {
            row_id
            for row_id, outcome in self._outcomes.items()
            if outcome.status in statuses
        }

    def iter_outcomes(self, batch_size: int = 10_000) -> Iterator[Outcome]:
        def order(outcome: Outcome) -> tuple[int, str]:
            return (NO_LINE if outcome.line is None else outcome.line, outcome.id)

        return iter(sorted(self._outcomes.values(), key=order))

    def iter_outcome_columns(
        self, batch_size: int = 10_000
    ) -> Iterator[dict[str, list[Any]]]:
        rows = [outcome_codec.encode(o) for o in self.iter_outcomes()]
        for start in range(0, len(rows), batch_size):
            yield outcome_codec.decode_columns(rows[start : start + batch_size])

    def totals(self) -> JournalTotals:
        by_status: Counter[str] = Counter()
        usage = Usage()
        cost = 0.0
        attempts = unpriced = 0
        by_tier: dict[str, dict[str, float]] = {}
        for outcome in self._outcomes.values():
            by_status[outcome.status] += 1
            used = outcome.usage
            if (
                outcome.service_tier is not None
                or used.total_tokens
                or outcome.cost_usd
            ):
                tokens = (used.input_tokens, used.output_tokens, used.thinking_tokens,
                          used.cached_tokens, used.total_tokens)  # fmt: skip
                add_tier(
                    by_tier,
                    outcome.service_tier or "unreported",
                    1,
                    tokens,
                    outcome.cost_usd or 0.0,
                )
            usage = usage + outcome.usage
            cost += outcome.cost_usd or 0.0
            attempts += outcome.attempts
            unpriced += outcome.cost_usd is None and outcome.attempts > 0
        return JournalTotals(
            len(self._outcomes),
            dict(by_status),
            usage,
            cost,
            attempts,
            self._spent,
            unpriced,
            by_tier,
        )

    def spent_usd(self) -> float:
        return self._spent

    def save_meta(self, key: str, value: object) -> None:
        # stored as JSON, so loads return what the durable journal returns
        self._meta[key] = json.dumps(value)

    def load_meta(self, key: str) -> object | None:
        return json.loads(self._meta[key]) if key in self._meta else None

    def get_upload(self, sha256: str) -> UploadedFile | None:
        upload = self._uploads.get(sha256)
        if upload is None or (
            upload.expires_at is not None
            and upload.expires_at < datetime.now(UTC) + UPLOAD_MARGIN
        ):
            return None
        return upload

    def put_upload(self, sha256: str, upload: UploadedFile) -> None:
        self._uploads[sha256] = upload

    def forget_upload(self, sha256: str) -> None:
        self._uploads.pop(sha256, None)

    def iter_uploads(self) -> Iterator[UploadedFile]:
        return iter([self._uploads[key] for key in sorted(self._uploads)])

    def close(self) -> None:
        self._release()
