"""A consistent copy of a live journal, for checkpointing a run directory to object storage.

SQLite's online backup API copies the database as of one moment while the run goes on writing (WAL readers do
not block the writer), into one self-contained file (rollback journal mode, no -wal or -shm beside it) that can
be uploaded, downloaded on another machine and opened there by `Journal.open` to resume.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ._reader import JOURNAL_NAME, sql_errors


def backup_journal(run_dir: Path, target: Path) -> bool:
    """Copy DIR's journal to `target` (replaced atomically); False when DIR holds no journal yet."""
    source_path = Path(run_dir) / JOURNAL_NAME
    if not source_path.is_file():
        return False
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    with sql_errors(source_path, "back up the journal"):
        source = sqlite3.connect(str(source_path), timeout=30.0)
        try:
            copy = sqlite3.connect(str(tmp))
            try:
                source.backup(copy, pages=4096)
                copy.execute("PRAGMA journal_mode = DELETE")
            finally:
                copy.close()
        finally:
            source.close()
        os.replace(tmp, target)
    return True
