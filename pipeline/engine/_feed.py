"""The rows between the reader and the workers."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import anyio

from pipeline.records import InvalidRow, Row

__all__ = ("Feed",)


class Feed:
    """The rows between the reader and the workers: a deque that workers pop without an await per row.

    An anyio memory stream costs two event-loop turns per row (a checkpoint on each side), a tenth of the
    engine's own time per row at zero latency; here only a worker that finds the deque empty waits. Bounded:
    the reader tops it up by a batch only once fewer than `low_water` rows are queued.
    """

    def __init__(self, low_water: int, workers: int) -> None:
        self._rows: deque[Row | InvalidRow] = deque()
        self._low_water = low_water
        self._workers = workers
        self._closed = False
        self._arrived = anyio.Event()
        self._room = anyio.Event()

    def put(self, items: Iterable[Row | InvalidRow]) -> None:
        self._rows.extend(items)
        self._arrived.set()

    def close(self) -> None:
        """The reader is done: workers drain what is queued, then `get()` returns None."""
        self._closed = True
        self._arrived.set()

    def leave(self) -> None:
        """A worker stopped; once all have, the reader stops waiting for room."""
        self._workers -= 1
        if self._workers <= 0:
            self._room.set()

    async def wait_for_room(self) -> bool:
        """Wait until the queue runs low; False when every worker has left (nothing more will be taken)."""
        while len(self._rows) >= self._low_water and self._workers > 0:
            if self._room.is_set():
                self._room = anyio.Event()
            await self._room.wait()
        return self._workers > 0

    async def get(self) -> Row | InvalidRow | None:
        while not self._rows:
            if self._closed:
                return None
            if self._arrived.is_set():  # set for rows that other workers took first
                self._arrived = anyio.Event()
            await self._arrived.wait()
        item = self._rows.popleft()
        if len(self._rows) < self._low_water:
            self._room.set()
        return item
