"""The Files API store: resumable uploads streamed to disk, file states, and lookups by URI.

Chunks go straight to disk while a sha256 is computed, so a 1 GB upload never sits in memory.
A file is PROCESSING for `file_processing_s` after its upload finishes, then ACTIVE (or FAILED when
its bytes do not look like its MIME type or cannot be measured).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from .apierror import ApiError, invalid
from .media import MediaError, MediaInfo, analyse, kind_of, sniff_ok

RETENTION = timedelta(hours=48)
GENERATED_RETENTION = timedelta(weeks=6)  # batch results are kept 6 weeks


def _iso(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


@dataclass(slots=True)
class StoredFile:
    id: str
    display_name: str | None
    mime_type: str
    path: str
    created: float
    ready_at: float
    size: int = 0
    sha256_hex: str = ""
    info: MediaInfo | None = None
    error: str | None = None
    source: str = "UPLOADED"  # or GENERATED (batch results): those can be downloaded

    def state(self, now: float) -> str:
        if self.error is not None:
            return "FAILED"
        return "ACTIVE" if now >= self.ready_at else "PROCESSING"

    def resource(self, origin: str, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"name": f"files/{self.id}"}
        if self.display_name:
            out["displayName"] = self.display_name
        generated = self.source == "GENERATED"
        keep = GENERATED_RETENTION if generated else RETENTION
        out.update(
            mimeType=self.mime_type,
            sizeBytes=str(self.size),
            createTime=_iso(self.created),
            updateTime=_iso(max(self.created, min(now, self.ready_at))),
            expirationTime=_iso(self.created + keep.total_seconds()),
            sha256Hash=base64.b64encode(self.sha256_hex.encode()).decode(),
            uri=f"{origin}/v1beta/files/{self.id}",
        )
        if generated:
            out["downloadUri"] = (
                f"{origin}/download/v1beta/files/{self.id}:download?alt=media"
            )
        out.update(state=self.state(now), source=self.source)
        if self.error is not None:
            out["error"] = {"code": 400, "message": self.error}
        return out


@dataclass(slots=True)
class UploadSession:
    file: StoredFile
    declared_size: int | None
    handle: BinaryIO
    offset: int = 0
    sha: Any = field(default_factory=hashlib.sha256)


class FileStore:
    """Uploaded files of one emulator; bytes under `storage_dir` (a temp dir removed on close)."""

    def __init__(self, storage_dir: str | None, processing_s: float) -> None:
        self._own_dir = storage_dir is None
        self.dir = storage_dir or tempfile.mkdtemp(prefix="emulator-files-")
        os.makedirs(self.dir, exist_ok=True)
        self.processing_s = processing_s
        self.files: dict[str, StoredFile] = {}
        self.sessions: dict[str, UploadSession] = {}

    def close(self) -> None:
        for session in self.sessions.values():
            session.handle.close()
        self.sessions.clear()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start(
        self, display_name: str | None, mime_type: str, declared_size: int | None
    ) -> str:
        """A new resumable upload session; returns its upload id."""
        file_id = secrets.token_hex(6)
        path = os.path.join(self.dir, file_id)
        now = time.time()
        stored = StoredFile(file_id, display_name, mime_type, path, now, now)
        upload_id = secrets.token_urlsafe(18)
        handle = open(path, "wb")  # noqa: SIM115 - stays open across the chunks of the session
        self.sessions[upload_id] = UploadSession(stored, declared_size, handle)
        return upload_id

    async def receive(
        self, upload_id: str, offset: int, chunks: Any, finalize: bool
    ) -> StoredFile | None:
        """Append one chunk stream at `offset`; on finalize, measure the file and return it."""
        session = self.sessions.get(upload_id)
        if session is None:
            raise ApiError(404, "Upload session not found or already finalized.")
        if offset != session.offset:
            raise invalid(
                f"Invalid X-Goog-Upload-Offset {offset}: the upload has {session.offset} bytes."
            )
        async for chunk in chunks:
            session.handle.write(chunk)
            session.sha.update(chunk)
            session.offset += len(chunk)
        if not finalize:
            return None
        del self.sessions[upload_id]
        session.handle.close()
        stored = session.file
        if (
            session.declared_size is not None
            and session.declared_size != session.offset
        ):
            os.unlink(stored.path)
            raise invalid(
                f"The upload has {session.offset} bytes but {session.declared_size} were declared."
            )
        stored.size = session.offset
        stored.sha256_hex = session.sha.hexdigest()
        stored.info, stored.error = await asyncio.to_thread(_measure, stored)
        stored.ready_at = time.time() + self.processing_s
        self.files[stored.id] = stored
        return stored

    def add(self, stored: StoredFile) -> None:
        """Register a file the emulator wrote itself (a batch's results)."""
        self.files[stored.id] = stored

    def get(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(
                403,
                f"You do not have permission to access the File {file_id} or it may not exist.",
            )
        return stored

    def delete(self, file_id: str) -> None:
        stored = self.get(file_id)
        del self.files[file_id]
        try:
            os.unlink(stored.path)
        except OSError:
            pass

    def page(self, size: int, token: str | None) -> tuple[list[StoredFile], str | None]:
        ordered = sorted(self.files.values(), key=lambda f: f.created, reverse=True)
        start = int(token) if token and token.isdigit() else 0
        chunk = ordered[start : start + size]
        more = start + size < len(ordered)
        return chunk, (str(start + size) if more else None)

    def resolve(self, uri: str) -> MediaInfo:
        """The media behind a fileData.fileUri, which must name an ACTIVE uploaded file."""
        marker = uri.rfind("files/")
        if marker < 0:
            raise invalid(
                f"Invalid or unsupported file uri: {uri}", "file_data.file_uri"
            )
        file_id = uri[marker + 6 :].split("?")[0].split(":")[0]
        stored = self.get(file_id)
        state = stored.state(time.time())
        if state != "ACTIVE":
            raise ApiError(
                400,
                f"The File {file_id} is not in an ACTIVE state and usage is not allowed.",
                status="FAILED_PRECONDITION",
            )
        if stored.info is None:
            raise invalid(f"Unsupported MIME type: {stored.mime_type}")
        return stored.info


def _measure(stored: StoredFile) -> tuple[MediaInfo | None, str | None]:
    if kind_of(stored.mime_type) is None:
        return (
            None,
            None,
        )  # the Files API keeps any type; generateContent refuses it later
    with open(stored.path, "rb") as fh:
        head = fh.read(4096)
    if not sniff_ok(stored.mime_type, head):
        return None, f"The file is not a valid {stored.mime_type} file."
    try:
        return analyse(stored.mime_type, stored.path, stored.size), None
    except MediaError as exc:
        return None, str(exc)
