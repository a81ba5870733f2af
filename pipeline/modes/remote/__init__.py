"""Runs whose directory is in object storage: worked in a local cache, checkpointed to the bucket.

The engine always works in a local directory (its SQLite journal needs a real disk); `run_remote` gives it the
cache directory of the remote URL, uploads a consistent copy of the journal, new images and the summary every
`checkpoint_s` seconds and at the end, and the Parquet results at the end of every session. A run stopped on one
machine resumes on another from the remote directory alone: the checkpoint is downloaded when the local cache
has none (or an older one).
"""

from __future__ import annotations

from ._session import (
    CHECKPOINT_META,
    RemoteRun,
    prepare_cache,
    run_remote,
)

__all__ = (
    "CHECKPOINT_META",
    "RemoteRun",
    "prepare_cache",
    "run_remote",
)
