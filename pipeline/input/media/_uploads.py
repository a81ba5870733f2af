"""The Files API side of media: upload each distinct file once, and reuse it across rows and runs.

Uploads are keyed by the content's SHA-256, so a file named by many rows (or renamed between runs) is
uploaded once and kept in the run's state (`store`, the journal) with its 48 h expiry. Concurrent rows that
need the same file wait for one upload. Files are streamed from disk as `FileSlice` bodies of
`chunk_bytes`, so memory does not grow with a file's size; the transport reads each slice as it sends it.

This module takes what it needs as parameters -- a provider with the Files API methods, a `send`
coroutine and an upload store -- so it imports neither the transport, the journal nor a provider.

Usage::

    uploads = Uploads(provider, transport.send, journal)
    part = await uploads.file_part(media)        # Part(file_uri=..., mime_type=...)
    ...
    await uploads.delete_all()                    # when [media] delete_uploads = true
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import anyio

from pipeline.errors import (
    AttemptError,
    FileGone,
    ReplyInvalid,
    RowInvalid,
    ServerError,
)
from pipeline.records import FileSlice, HttpRequest, HttpResponse, Part, UploadedFile

from ._probe import MediaFile

Send = Callable[[HttpRequest], Awaitable[HttpResponse]]

# The official SDK's chunk size; the protocol wants multiples of 256 KiB.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
_GRANULE = 256 * 1024
# Files live 48 h; when the server does not say, assume a little less. Reused only with an hour to spare.
FILE_LIFETIME = timedelta(hours=47)
EXPIRY_MARGIN = timedelta(hours=1)


class FilesApi(Protocol):
    """The part of `providers.base.Provider` that uploads use."""

    kind: str
    supports_files: bool

    def build_upload_start(
        self, *, size: int, mime_type: str, display_name: str
    ) -> HttpRequest: ...

    def parse_upload_start(self, response: HttpResponse) -> str: ...

    def build_upload_chunk(
        self, upload_url: str, chunk: FileSlice, *, final: bool
    ) -> HttpRequest: ...

    def parse_upload_chunk(self, response: HttpResponse) -> UploadedFile | None: ...

    def build_get_file(self, name: str) -> HttpRequest: ...

    def parse_file(self, response: HttpResponse) -> UploadedFile: ...

    def build_delete_file(self, name: str) -> HttpRequest: ...


class UploadStore(Protocol):
    """Where uploads outlive a run (the journal). `get_upload` returns None for unknown or expiring files."""

    def get_upload(self, sha256: str) -> UploadedFile | None: ...

    def put_upload(self, sha256: str, upload: UploadedFile) -> None: ...

    def forget_upload(self, sha256: str) -> None: ...


@dataclass(slots=True)
class _Flight:
    """One upload in progress; rows needing the same file wait on `done` instead of uploading again."""

    done: anyio.Event = field(default_factory=anyio.Event)
    result: UploadedFile | None = None
    error: BaseException | None = None


def file_chunks(
    path: str, size: int, chunk_bytes: int = UPLOAD_CHUNK_BYTES
) -> Iterator[tuple[FileSlice, bool]]:
    """(slice, final) pairs covering the first `size` bytes of `path`; an empty file is one empty chunk."""
    if size <= 0:
        yield FileSlice(path, 0, 0), True
        return
    for start in range(0, size, chunk_bytes):
        yield (
            FileSlice(path, start, min(chunk_bytes, size - start)),
            start + chunk_bytes >= size,
        )


class Uploads:
    """Uploads for one run: reuse from `store`, one upload per content hash, and clean-up at the end.

    :param provider: a provider whose `supports_files` is true.
    :param send: sends one request (the transport's `send`); its errors propagate to the caller.
    :param store: the run's upload store (the journal).
    :param poll_interval_s: the wait between GETs while the file is PROCESSING.
    :param max_wait_s: how long a file may stay PROCESSING before `file_part` gives up (a retryable error).
    :param chunk_bytes: bytes per upload request, a multiple of 256 KiB.
    """

    def __init__(
        self,
        provider: FilesApi,
        send: Send,
        store: UploadStore,
        *,
        poll_interval_s: float = 0.5,
        max_wait_s: float = 600,
        chunk_bytes: int = UPLOAD_CHUNK_BYTES,
    ) -> None:
        if not provider.supports_files:
            raise ValueError(f"the {provider.kind} provider has no Files API")
        if chunk_bytes <= 0 or chunk_bytes % _GRANULE:
            raise ValueError(
                f"chunk_bytes must be a positive multiple of {_GRANULE}, got {chunk_bytes}"
            )
        self._provider = provider
        self._send = send
        self._store = store
        self._poll_interval_s = poll_interval_s
        self._max_wait_s = max_wait_s
        self._chunk_bytes = chunk_bytes
        self._flights: dict[str, _Flight] = {}
        # sha256 -> file name, for every file this run referred to.
        self._used: dict[str, str] = {}
        self.uploaded = 0  # files uploaded by this object (not reused)

    async def file_part(self, media: MediaFile) -> Part:
        """A part that refers to `media` on the provider, uploading it first unless a live copy exists.

        :raises RowInvalid: the provider could not process the file (state FAILED): the same bytes would
            fail again, so the row is invalid.
        :raises AttemptError: the upload or the polling failed (transport, 5xx, 429, or the file stayed
            PROCESSING longer than `max_wait_s`); retrying the row may succeed.
        """
        uploaded = await self._uploaded(media)
        return Part(
            file_uri=uploaded.uri, mime_type=media.mime_type, source_path=media.ref_path
        )

    def forget(self, sha256: str) -> None:
        """Drop a file from the store, so the next `file_part` uploads it again (the server lost it)."""
        self._store.forget_upload(sha256)

    def forget_files(self, file_ids: Iterable[str]) -> list[str]:
        """Forget every file used by this run whose id ("abc123" or "files/abc123") is in `file_ids`: the ids
        a `FileGone` error names. Returns the forgotten hashes: when there are some, retrying the row uploads
        the files again."""
        ids = {file_id.rsplit("/", 1)[-1].lower() for file_id in file_ids}
        gone = [
            sha
            for sha, name in self._used.items()
            if name.rsplit("/", 1)[-1].lower() in ids
        ]
        for sha in gone:
            self.forget(sha)
            del self._used[sha]
        return gone

    async def delete_all(self) -> int:
        """Delete the files this run used (`[media] delete_uploads = true`), including those reused from
        an earlier run of the same job; returns how many went.

        A file already gone (404) counts as deleted; other failures are left alone, as files expire
        after 48 h anyway.
        """
        deleted = 0
        for sha, name in list(self._used.items()):
            try:
                response = await self._send(self._provider.build_delete_file(name))
            except AttemptError:
                continue
            if 200 <= response.status < 300 or response.status == 404:
                deleted += 1
                self._store.forget_upload(sha)
                del self._used[sha]
        return deleted

    async def _uploaded(self, media: MediaFile) -> UploadedFile:
        while True:
            flight = self._flights.get(media.sha256)
            if flight is None:
                break
            await flight.done.wait()
            if flight.result is not None:
                return flight.result
            if flight.error is not None:
                raise flight.error
            # The uploading task was cancelled without a result: try again, maybe as the uploader.
        flight = self._flights[media.sha256] = _Flight()
        try:
            flight.result = await self._reuse_or_upload(media)
            return flight.result
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[media.sha256]
            flight.done.set()

    async def _reuse_or_upload(self, media: MediaFile) -> UploadedFile:
        known = self._store.get_upload(media.sha256)
        if known is not None and not _expiring(known) and known.state != "FAILED":
            self._used[media.sha256] = known.name
            try:
                return await self._until_active(media, known)
            except FileGone:
                # A file still PROCESSING in an earlier run that the server no longer has (403/404).
                self.forget(media.sha256)
                self._used.pop(media.sha256, None)
        return await self._until_active(media, await self._upload(media))

    async def _upload(self, media: MediaFile) -> UploadedFile:
        """A resumable upload: start, then the file in slices, the last one finalising it."""
        start = self._provider.build_upload_start(
            size=media.size,
            mime_type=media.mime_type,
            display_name=media.path.name[:512],
        )
        upload_url = self._provider.parse_upload_start(await self._send(start))
        uploaded: UploadedFile | None = None
        for chunk, final in file_chunks(str(media.path), media.size, self._chunk_bytes):
            request = self._provider.build_upload_chunk(upload_url, chunk, final=final)
            uploaded = self._provider.parse_upload_chunk(await self._send(request))
        if uploaded is None:
            raise ReplyInvalid(
                f"the Files API did not return a file after the last chunk of {media.ref_path!r}",
                code="UPLOAD_INCOMPLETE",
            )
        self.uploaded += 1
        return self._remember(media, uploaded)

    async def _until_active(
        self, media: MediaFile, uploaded: UploadedFile
    ) -> UploadedFile:
        """Poll the file until it is ACTIVE (video and PDF files are processed after the upload)."""
        deadline = anyio.current_time() + self._max_wait_s
        while uploaded.state not in ("ACTIVE", "FAILED"):
            if anyio.current_time() >= deadline:
                raise ServerError(
                    f"the Files API was still processing {media.ref_path!r} ({uploaded.name}) after "
                    f"{self._max_wait_s:g} s; the row will be retried and polling resumes",
                    code="FILE_PROCESSING_TIMEOUT",
                )
            await anyio.sleep(self._poll_interval_s)
            uploaded = self._remember(
                media,
                self._provider.parse_file(
                    await self._send(self._provider.build_get_file(uploaded.name))
                ),
            )
        if uploaded.state == "FAILED":
            self._store.forget_upload(media.sha256)
            self._used.pop(media.sha256, None)
            raise RowInvalid(
                f"media {media.ref_path!r}: the Files API could not process this {media.mime_type} file "
                f"(state FAILED); it is probably damaged, and sending it again would fail the same way"
            )
        return uploaded

    def _remember(self, media: MediaFile, uploaded: UploadedFile) -> UploadedFile:
        """Store the file under our content hash (so a PROCESSING file is polled, not re-uploaded, on retry)."""
        expires_at = uploaded.expires_at or datetime.now(UTC) + FILE_LIFETIME
        uploaded = replace(
            uploaded,
            sha256=media.sha256,
            expires_at=expires_at,
            size_bytes=uploaded.size_bytes or media.size,
        )
        self._store.put_upload(media.sha256, uploaded)
        self._used[media.sha256] = uploaded.name
        return uploaded


def _expiring(upload: UploadedFile) -> bool:
    if upload.expires_at is None:
        return False
    expires_at = (
        upload.expires_at
        if upload.expires_at.tzinfo
        else upload.expires_at.replace(tzinfo=UTC)
    )
    return expires_at <= datetime.now(UTC) + EXPIRY_MARGIN
