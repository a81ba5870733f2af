"""Batch mode (`mode = "batch"`, `pipeline run --mode batch`): the same job through the provider's Batch API.

Rows become keyed JSONL lines (the body each row would send online), written to disk and uploaded as one or
more jobs split by file size, enqueued tokens and rows; the run waits for them (polling with backoff, progress
from the jobs' own counts), then streams each result file back into the journal as the same outcomes an online
run records, priced at the batch rate; the results come from the same finalize step. The journal records
every job before its create call is sent, so a job is never created twice for the same rows (`_session`).

It sits above `engine`, whose assembly and finalize step it reuses; `pipeline.api` chooses between them.
"""

from __future__ import annotations

from ._run import CancelReport, cancel_batches, run_batch

__all__ = ("CancelReport", "cancel_batches", "run_batch")
