"""The Batch API's calls, each one provider request through the transport, retried when that is safe.

Uploads, polls, lists, cancels and downloads are retried like an online request (transport errors, 408, 429,
5xx, with the retry policy's backoff). Create is NOT retried here: it is not idempotent, so an answer that never
came (a timeout, a reset, a 5xx) may still have made a job; `BatchSession.create` decides, by listing the jobs
and matching the display name, before it sends create again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

import anyio

from pipeline.engine import RunStats
from pipeline.errors import AttemptError, ReplyInvalid, RowInvalid, ServerError
from pipeline.policy import RetryPolicy
from pipeline.providers import Provider, RemoteBatch
from pipeline.records import FileSlice, HttpRequest, HttpResponse

__all__ = ("BatchClient", "BatchTransport")

T = TypeVar("T")
# The Files API's chunk size (a multiple of 256 KiB, as the resumable protocol wants).
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
INPUT_MIME = "application/jsonl"
# How many pages of the provider's job list to read when looking for a job whose create call never answered.
LIST_PAGES = 20


class BatchTransport(Protocol):
    """What batch mode needs from the transport: `send`, and `download` to stream result files to disk."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...

    async def download(self, request: HttpRequest, path: str) -> HttpResponse: ...


@dataclass(slots=True)
class BatchClient:
    """One run's Batch API calls. `timeout_s` bounds each control call; uploads and downloads take longer."""

    provider: Provider
    transport: BatchTransport
    policy: RetryPolicy
    stats: RunStats
    timeout_s: float = 600.0
    file_poll_s: float = 1.0
    file_wait_s: float = 600.0

    async def _call(
        self, build: Callable[[], HttpRequest], parse: Callable[[HttpResponse], T]
    ) -> T:
        attempt = 0
        while True:
            attempt += 1
            self.stats.request_sent()
            try:
                return parse(await self.transport.send(build()))
            except AttemptError as exc:
                decision = self.policy.decide(exc, attempt)
                if not decision.retry:
                    raise
                self.stats.retries_by_cause[f"batch:{exc.code}"] += 1
                await anyio.sleep(decision.delay_s)

    async def upload(self, path: Path, size: int, display_name: str) -> str:
        """Upload the input file at `path` (its first `size` bytes); returns the name create takes."""
        provider = self.provider
        if (
            not provider.supports_files
        ):  # one multipart request, its frame already in the file
            return await self._call(
                lambda: provider.build_batch_file_upload(
                    FileSlice(str(path), 0, size), display_name
                ),
                provider.parse_batch_file_upload,
            )
        attempt = 0
        while True:  # a resumable upload that fails half-way starts again
            attempt += 1
            try:
                return await self._resumable(path, size, display_name)
            except AttemptError as exc:
                decision = self.policy.decide(exc, attempt)
                if not decision.retry:
                    raise
                self.stats.retries_by_cause[f"batch-upload:{exc.code}"] += 1
                await anyio.sleep(decision.delay_s)

    async def _resumable(self, path: Path, size: int, display_name: str) -> str:
        provider = self.provider
        self.stats.request_sent()
        start = provider.build_upload_start(
            size=size, mime_type=INPUT_MIME, display_name=display_name[:512]
        )
        url = provider.parse_upload_start(await self.transport.send(start))
        uploaded = None
        offsets = range(0, size, UPLOAD_CHUNK_BYTES) if size else range(1)
        for offset in offsets:
            length = min(UPLOAD_CHUNK_BYTES, size - offset)
            final = offset + UPLOAD_CHUNK_BYTES >= size
            self.stats.request_sent()
            request = provider.build_upload_chunk(
                url, FileSlice(str(path), offset, length), final=final
            )
            uploaded = provider.parse_upload_chunk(await self.transport.send(request))
        if uploaded is None:
            raise ReplyInvalid(
                "the Files API did not return a file after the last chunk of the batch input",
                code="UPLOAD_INCOMPLETE",
            )
        deadline = anyio.current_time() + self.file_wait_s
        while uploaded.state not in ("ACTIVE", "FAILED"):
            if anyio.current_time() >= deadline:
                raise ServerError(
                    f"the Files API was still processing the batch input {uploaded.name}",
                    code="FILE_PROCESSING_TIMEOUT",
                )
            await anyio.sleep(self.file_poll_s)
            uploaded = await self._call(
                partial(provider.build_get_file, uploaded.name), provider.parse_file
            )
        if uploaded.state == "FAILED":
            raise RowInvalid(
                f"the Files API could not process the batch input file {uploaded.name}"
            )
        return uploaded.name

    async def create(self, input_file: str, display_name: str) -> RemoteBatch:
        """One create call, never retried here (see the module docstring)."""
        self.stats.request_sent()
        request = self.provider.build_batch_create(
            input_file=input_file, display_name=display_name
        )
        request = _with_timeout(request, self.timeout_s)
        return self.provider.parse_batch(await self.transport.send(request))

    async def get(self, name: str) -> RemoteBatch:
        return await self._call(
            lambda: _with_timeout(self.provider.build_batch_get(name), self.timeout_s),
            self.provider.parse_batch,
        )

    async def find(self, display_name: str) -> RemoteBatch | None:
        """The job with this display name among the newest LIST_PAGES pages of the provider's list."""
        token: str | None = None
        for _ in range(LIST_PAGES):
            jobs, token = await self._call(
                partial(self.provider.build_batch_list, token),
                self.provider.parse_batch_list,
            )
            for job in jobs:
                if job.display_name == display_name:
                    return job
            if token is None:
                return None
        return None

    async def cancel(self, name: str) -> None:
        await self._call(
            lambda: self.provider.build_batch_cancel(name),
            self.provider.check_batch_reply,
        )

    async def download(self, file_name: str, path: Path) -> None:
        """Stream a result file to `path`."""

        attempt = 0
        while True:
            attempt += 1
            self.stats.request_sent()
            try:
                response = await self.transport.download(
                    self.provider.build_batch_download(file_name), str(path)
                )
                self.provider.check_batch_reply(response)  # raises for a non-2xx reply
                return
            except AttemptError as exc:
                decision = self.policy.decide(exc, attempt)
                if not decision.retry:
                    raise
                self.stats.retries_by_cause[f"batch-download:{exc.code}"] += 1
                await anyio.sleep(decision.delay_s)

    async def delete_input(self, file_name: str) -> None:
        """Best effort: an input file left behind expires after 48 hours anyway."""
        try:
            self.stats.request_sent()
            await self.transport.send(self.provider.build_batch_delete_input(file_name))
        except AttemptError:
            pass


def _with_timeout(request: HttpRequest, timeout_s: float) -> HttpRequest:
    return HttpRequest(
        request.method, request.url, request.headers, request.body, timeout_s
    )
