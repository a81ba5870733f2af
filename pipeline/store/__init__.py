"""The run directory's durable state: the SQLite journal (WAL, group commits), its codec and the run lock."""

from __future__ import annotations

from ._batch import LIVE_PHASES, BatchJobRecord
from ._journal import Journal, JournalReader, JournalTotals
from ._lock import holder_pid
from ._protocols import RunJournal

__all__ = (
    "LIVE_PHASES",
    "BatchJobRecord",
    "Journal",
    "JournalReader",
    "JournalTotals",
    "RunJournal",
    "holder_pid",
)
