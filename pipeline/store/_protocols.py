"""What the engine needs from a journal, so the SQLite journal and the in-memory one are interchangeable."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from pipeline.records import Outcome, UploadedFile

if TYPE_CHECKING:
    from pipeline.records import JournalTotals


class RunJournal(Protocol):
    """A run's record of outcomes; `record()` only works inside `async with journal:`."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def record(self, outcome: Outcome) -> None: ...

    async def flush(self) -> None: ...

    def final_ids(self, *, retry_failed: bool = False) -> set[str]: ...

    def iter_outcomes(self, batch_size: int = 10_000) -> Iterator[Outcome]: ...

    def iter_outcome_columns(
        self, batch_size: int = 10_000
    ) -> Iterator[dict[str, list[Any]]]: ...

    def totals(self) -> JournalTotals: ...

    def spent_usd(self) -> float: ...

    def save_meta(self, key: str, value: object) -> None: ...

    def load_meta(self, key: str) -> object | None: ...

    def get_upload(self, sha256: str) -> UploadedFile | None: ...

    def put_upload(self, sha256: str, upload: UploadedFile) -> None: ...

    def forget_upload(self, sha256: str) -> None: ...

    def iter_uploads(self) -> Iterator[UploadedFile]: ...

    def close(self) -> None: ...
