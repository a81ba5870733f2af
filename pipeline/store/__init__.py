"""The run directory's durable state: the SQLite journal (WAL, group commits), its codec and the run lock."""

from __future__ import annotations

from ._backup import backup_journal
from ._batch import LIVE_PHASES, BatchJobRecord
from ._journal import Journal, JournalReader, JournalTotals
from ._lock import holder_pid
from ._protocols import RunJournal
from ._reader import JOURNAL_NAME

__all__ = (
    "JOURNAL_NAME",
    "LIVE_PHASES",
    "BatchJobRecord",
    "Journal",
    "JournalReader",
    "JournalTotals",
    "RunJournal",
    "backup_journal",
    "holder_pid",
)
