"""The Batch API's state in one emulator: its jobs, the tasks that run them, and the aggregator's
OpenAI-compatible files. The Gemini routes (batch_routes.py) and the OpenAI-compatible ones
(openai_batches.py) both work on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from . import batches
from .apierror import ApiError
from .batch_worker import Runner
from .batches import BatchJob, BatchStore
from .files import StoredFile
from .flow import State

__all__ = ("SERVICE", "BatchService", "OpenAIFile")

# The aggregator's files.


@dataclass(slots=True)
class OpenAIFile:
    id: str
    filename: str
    purpose: str
    size: int
    created: float
    path: str

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "file", "bytes": self.size, "created_at": int(self.created),
            "filename": self.filename, "purpose": self.purpose, "status": "processed",
            "expires_at": None, "status_details": None,
        }  # fmt: skip


class OpenAIFiles:
    """Files of the aggregator door; their bytes sit in the Files store's directory."""

    def __init__(self) -> None:
        self.files: dict[str, OpenAIFile] = {}

    def add(self, file: OpenAIFile) -> None:
        self.files[file.id] = file

    def add_generated(self, stored: StoredFile) -> str:
        """A batch's output or error file, as a `batch_output` file."""
        self.add(OpenAIFile(stored.id, f"{stored.display_name}.jsonl", "batch_output",
                            stored.size, stored.created, stored.path))  # fmt: skip
        return stored.id

    def get(self, file_id: str) -> OpenAIFile:
        found = self.files.get(file_id)
        if found is None:
            raise ApiError(
                404,
                f"No such File object: {file_id}",
                param="id",
                openai_code="file_not_found",
            )
        return found

    def delete(self, file_id: str) -> None:
        found = self.get(file_id)
        del self.files[file_id]
        with contextlib.suppress(OSError):
            os.unlink(found.path)


class BatchService:
    """The jobs of one emulator, the tasks that run them, and the aggregator's files."""

    def __init__(self) -> None:
        self.store = BatchStore()
        self.runners: dict[str, Runner] = {}
        self.openai_files = OpenAIFiles()

    def start(self, state: State, runner: Runner) -> None:
        self.store.add(runner.job)
        self.runners[runner.job.id] = runner
        runner.start()

    def apply_fail_rate(self, state: State, job: BatchJob) -> None:
        """`batch_fail_rate`: this job ends FAILED half-way (unless a directive already decides)."""
        config = state.config
        if job.directives.fail_after is None and batches.will_fail(
            config.seed, job.id, config.batch_fail_rate
        ):
            job.directives = replace(job.directives, fail_after=job.request_count // 2)

    def cancel(self, job: BatchJob) -> None:
        runner = self.runners.get(job.id)
        if runner is not None:
            runner.cancel()

    def delete(self, job: BatchJob) -> None:
        runner = self.runners.pop(job.id, None)
        if runner is not None and not job.terminal:
            runner.cancel()
        self.store.remove(job.id)

    async def shutdown(self, app: web.Application) -> None:
        for runner in self.runners.values():
            runner.shutdown()
        tasks = [r.task for r in self.runners.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


SERVICE: web.AppKey[BatchService] = web.AppKey("emulator_batches", BatchService)
