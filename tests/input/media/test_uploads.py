"""Uploads: one upload per content hash, reuse from the run's state, streaming chunks, polling until ACTIVE.

The provider is the real `GeminiProvider`; its requests go to `FakeFilesApi`, a small in-process stand-in for
the Files API that reads each `FileSlice` from disk the way the transport does. Tests against the emulator
itself live in test_media_emulator.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from pipeline.errors import RowInvalid, ServerError, TransportError
from pipeline.input.media._probe import MediaFile, probe_media
from pipeline.input.media._uploads import Uploads, file_chunks
from pipeline.providers import GeminiProvider, StaticCredentials
from pipeline.records import FileSlice, HttpRequest, HttpResponse, UploadedFile
from pipeline.store import Journal

BASE = "http://files.test"
KIB = 1024


@dataclass
class FakeFilesApi:
    """The resumable upload protocol of reference section 8, with files PROCESSING for `polls` GETs."""

    polls: int = 0
    fail_processing: bool = False
    expire_in: timedelta = timedelta(hours=48)
    start_delay_s: float = 0.0
    started: int = 0
    # (offset, length, X-Goog-Upload-Command) of every chunk received
    chunks: list[tuple[int, int, str]] = field(default_factory=list)
    gets: int = 0
    deleted: list[str] = field(default_factory=list)
    files: dict[str, dict[str, object]] = field(default_factory=dict)
    _sessions: dict[str, dict[str, object]] = field(default_factory=dict)

    async def send(self, request: HttpRequest) -> HttpResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers.get("x-goog-api-key") == "test-key"
        if request.url == f"{BASE}/upload/v1beta/files":
            assert headers["x-goog-upload-command"] == "start"
            self.started += 1
            await anyio.sleep(self.start_delay_s)
            session = f"{BASE}/upload/session/{self.started}"
            self._sessions[session] = {
                "size": int(headers["x-goog-upload-header-content-length"]),
                "mime": headers["x-goog-upload-header-content-type"],
                "digest": hashlib.sha256(),
                "received": 0,
            }
            return HttpResponse(200, {"x-goog-upload-url": session}, b"")
        if request.url in self._sessions:
            return self._chunk(self._sessions[request.url], headers, request.body)
        file_id = request.url.rsplit("/", 1)[-1]
        if request.method == "GET" and file_id not in self.files:
            message = f"You do not have permission to access the File {file_id} or it may not exist."
            return _json(
                403,
                {
                    "error": {
                        "code": 403,
                        "status": "PERMISSION_DENIED",
                        "message": message,
                    }
                },
            )
        if request.method == "GET":
            self.gets += 1
            doc = self.files[file_id]
            if doc["state"] == "PROCESSING" and doc["polls_left"] == 0:
                doc["state"] = "FAILED" if self.fail_processing else "ACTIVE"
            doc["polls_left"] = max(0, int(doc["polls_left"]) - 1)  # type: ignore[call-overload]
            return _json(200, self._public(doc))
        if request.method == "DELETE":
            if self.files.pop(file_id, None) is None:
                return _json(
                    404,
                    {"error": {"code": 404, "status": "NOT_FOUND", "message": "gone"}},
                )
            self.deleted.append(file_id)
            return _json(200, {})
        raise AssertionError(f"unexpected request {request.method} {request.url}")

    def _chunk(
        self, session: dict[str, object], headers: dict[str, str], body: object
    ) -> HttpResponse:
        assert isinstance(body, FileSlice), (
            "chunks must be streamed from disk, not held in memory"
        )
        assert (
            int(headers["x-goog-upload-offset"]) == session["received"] == body.offset
        )
        command = headers["x-goog-upload-command"]
        self.chunks.append((body.offset, body.length, command))
        with open(body.path, "rb") as handle:
            handle.seek(body.offset)
            data = handle.read(body.length)
        session["digest"].update(data)  # type: ignore[attr-defined]
        session["received"] = int(session["received"]) + len(data)  # type: ignore[call-overload]
        if command != "upload, finalize":
            return HttpResponse(200, {"x-goog-upload-status": "active"}, b"")
        assert session["received"] == session["size"]
        file_id = f"file{len(self.files) + 1}-{self.started}"
        doc = {
            "name": f"files/{file_id}",
            "uri": f"{BASE}/v1beta/files/{file_id}",
            "mimeType": session["mime"],
            "sizeBytes": str(session["size"]),
            "sha256": session["digest"].hexdigest(),  # type: ignore[attr-defined]
            "expirationTime": (datetime.now(UTC) + self.expire_in).isoformat(),
            "state": "PROCESSING" if self.polls else "ACTIVE",
            "polls_left": self.polls - 1,
        }
        self.files[file_id] = doc
        return _json(
            200, {"file": self._public(doc)}, {"x-goog-upload-status": "final"}
        )

    @staticmethod
    def _public(doc: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in doc.items() if k not in ("polls_left", "sha256")}


def _json(
    status: int, doc: object, headers: dict[str, str] | None = None
) -> HttpResponse:
    return HttpResponse(
        status,
        {"content-type": "application/json", **(headers or {})},
        json.dumps(doc).encode(),
    )


class DictStore:
    """An upload store with the journal's semantics: nothing that expires within the hour."""

    def __init__(self) -> None:
        self.uploads: dict[str, UploadedFile] = {}

    def get_upload(self, sha256: str) -> UploadedFile | None:
        found = self.uploads.get(sha256)
        if (
            found
            and found.expires_at
            and found.expires_at < datetime.now(UTC) + timedelta(hours=1)
        ):
            return None
        return found

    def put_upload(self, sha256: str, upload: UploadedFile) -> None:
        self.uploads[sha256] = upload

    def forget_upload(self, sha256: str) -> None:
        self.uploads.pop(sha256, None)


def provider() -> GeminiProvider:
    credentials = StaticCredentials("GEMINI_API_KEY", "x-goog-api-key", "test-key")
    return GeminiProvider(
        model="gemini-3.1-pro-preview", credentials=credentials, base_url=BASE
    )


def media_file(tmp_path: Path, name: str = "a.wav", size: int = 0) -> MediaFile:
    """The sample WAV, padded with silence to `size` bytes when asked (a valid WAV either way)."""
    source = Path(__file__).resolve().parents[3] / "sample_data/media/audio/tone.wav"
    path = tmp_path / name
    data = source.read_bytes()
    if size > len(data):
        data = _wav_of_size(data, size)
    path.write_bytes(data)
    return probe_media(path, None, media_resolution=None, ref_path=name)


def _wav_of_size(wav: bytes, size: int) -> bytes:
    extra = size - len(wav)
    body = wav[44:] + bytes(extra)
    header = bytearray(wav[:44])
    header[4:8] = (36 + len(body)).to_bytes(4, "little")
    header[40:44] = len(body).to_bytes(4, "little")
    return bytes(header) + body


def uploads(
    api: FakeFilesApi, store: object | None = None, **options: float
) -> Uploads:
    poll = options.pop("poll", 0.0)
    store = store or DictStore()
    return Uploads(provider(), api.send, store, poll_interval_s=poll, **options)  # type: ignore[arg-type]


async def test_upload_streams_chunks_and_returns_a_file_part(tmp_path: Path) -> None:
    media = media_file(tmp_path, size=600 * KIB)
    api = FakeFilesApi()
    up = Uploads(provider(), api.send, DictStore(), chunk_bytes=256 * KIB)

    part = await up.file_part(media)

    assert (
        part.file_uri == f"{BASE}/v1beta/files/file1-1"
        and part.mime_type == "audio/wav"
    )
    assert part.data is None and part.source_path == "a.wav"
    assert api.chunks == [
        (0, 256 * KIB, "upload"),
        (256 * KIB, 256 * KIB, "upload"),
        (512 * KIB, media.size - 512 * KIB, "upload, finalize"),
    ]
    # The server got exactly the file's bytes.
    assert api.files["file1-1"]["sha256"] == media.sha256


def test_file_chunks_cover_the_file_once() -> None:
    assert list(file_chunks("f", 0, 256)) == [(FileSlice("f", 0, 0), True)]
    assert list(file_chunks("f", 512, 256)) == [
        (FileSlice("f", 0, 256), False),
        (FileSlice("f", 256, 256), True),
    ]
    chunks = list(file_chunks("f", 700, 256))
    assert [c.length for c, _ in chunks] == [256, 256, 188] and [
        f for _, f in chunks
    ] == [False, False, True]


def test_chunk_size_must_be_a_multiple_of_256_kib() -> None:
    with pytest.raises(ValueError, match="multiple of 262144"):
        Uploads(provider(), FakeFilesApi().send, DictStore(), chunk_bytes=1000)


async def test_many_rows_needing_one_file_concurrently_upload_it_once(
    tmp_path: Path,
) -> None:
    media = media_file(tmp_path)
    api = FakeFilesApi(start_delay_s=0.05, polls=2)
    up = uploads(api)
    parts = []

    async def row() -> None:
        parts.append(await up.file_part(media))

    async with anyio.create_task_group() as tg:
        for _ in range(25):
            tg.start_soon(row)

    assert api.started == 1 and up.uploaded == 1
    assert len(parts) == 25 and len({p.file_uri for p in parts}) == 1


async def test_a_file_in_the_store_is_reused_without_uploading(tmp_path: Path) -> None:
    media = media_file(tmp_path)
    store = DictStore()
    api = FakeFilesApi()
    first = await uploads(api, store).file_part(media)

    again = await uploads(api, store).file_part(media)  # a new run with the same state

    assert api.started == 1 and again.file_uri == first.file_uri
    assert store.uploads[media.sha256].sha256 == media.sha256


async def test_same_content_under_another_name_is_reused(tmp_path: Path) -> None:
    store = DictStore()
    api = FakeFilesApi()
    await uploads(api, store).file_part(media_file(tmp_path, "a.wav"))
    await uploads(api, store).file_part(media_file(tmp_path, "copy.wav"))
    assert api.started == 1


async def test_uploads_survive_in_the_journal_across_runs(tmp_path: Path) -> None:
    media = media_file(tmp_path)
    api = FakeFilesApi()
    for _ in range(2):
        journal = Journal.open(tmp_path / "run", fingerprint="f", spec_description={})
        async with journal:
            await uploads(api, journal).file_part(media)
    assert api.started == 1


async def test_an_expired_upload_is_uploaded_again(tmp_path: Path) -> None:
    media = media_file(tmp_path)
    store = DictStore()
    api = FakeFilesApi(expire_in=timedelta(minutes=30))  # inside the one-hour margin
    await uploads(api, store).file_part(media)
    await uploads(api, store).file_part(media)
    assert api.started == 2


async def test_expiry_is_checked_even_when_the_store_does_not(tmp_path: Path) -> None:
    media = media_file(tmp_path)
    store = DictStore()
    api = FakeFilesApi()
    part = await uploads(api, store).file_part(media)
    old = store.uploads[media.sha256]
    soon = replace(old, expires_at=datetime.now(UTC) + timedelta(minutes=5))
    store.get_upload = lambda sha: soon  # type: ignore[method-assign]
    assert (await uploads(api, store).file_part(media)).file_uri != part.file_uri
    assert api.started == 2


async def test_forget_makes_the_next_part_upload_again(tmp_path: Path) -> None:
    media = media_file(tmp_path)
    store = DictStore()
    api = FakeFilesApi()
    up = uploads(api, store)
    first = await up.file_part(media)
    file_id = first.file_uri.rsplit("/", 1)[-1]  # type: ignore[union-attr]

    forgotten = up.forget_files([file_id])

    assert forgotten == [media.sha256] and media.sha256 not in store.uploads
    assert up.forget_files(["files/other-id"]) == []
    second = await up.file_part(media)
    assert api.started == 2 and second.file_uri != first.file_uri


async def test_processing_files_are_polled_until_active(tmp_path: Path) -> None:
    media = media_file(tmp_path)
    store = DictStore()
    api = FakeFilesApi(polls=3)
    part = await uploads(api, store, poll=0.001).file_part(media)
    assert api.gets == 3 and part.file_uri
    assert store.uploads[media.sha256].state == "ACTIVE"


async def test_a_processing_file_in_the_store_is_polled_not_uploaded_again(
    tmp_path: Path,
) -> None:
    media = media_file(tmp_path)
    store = DictStore()
    api = FakeFilesApi(polls=50)
    with pytest.raises(ServerError) as caught:
        await uploads(api, store, max_wait_s=0.0).file_part(media)
    assert caught.value.code == "FILE_PROCESSING_TIMEOUT" and caught.value.retryable
    assert store.uploads[media.sha256].state == "PROCESSING"

    api.files[next(iter(api.files))]["polls_left"] = 0
    await uploads(api, store).file_part(media)
    assert api.started == 1


async def test_a_processing_file_the_server_lost_is_uploaded_again(
    tmp_path: Path,
) -> None:
    media = media_file(tmp_path)
    store = DictStore()
    api = FakeFilesApi(polls=50)
    with pytest.raises(ServerError):
        await uploads(api, store, max_wait_s=0.0).file_part(media)
    api.files.clear()  # the server forgot it (e.g. a run resumed after 48 h)
    api.polls = 0

    part = await uploads(api, store).file_part(media)

    assert api.started == 2 and part.file_uri == f"{BASE}/v1beta/files/file1-2"
    assert store.uploads[media.sha256].state == "ACTIVE"


async def test_a_file_the_service_cannot_process_makes_the_row_invalid(
    tmp_path: Path,
) -> None:
    media = media_file(tmp_path)
    store = DictStore()
    api = FakeFilesApi(polls=1, fail_processing=True)
    with pytest.raises(
        RowInvalid, match=r"could not process this audio/wav file \(state FAILED\)"
    ):
        await uploads(api, store).file_part(media)
    assert media.sha256 not in store.uploads


async def test_waiting_rows_share_the_uploaders_error_and_a_later_row_tries_again(
    tmp_path: Path,
) -> None:
    media = media_file(tmp_path)
    api = FakeFilesApi(start_delay_s=0.02)
    calls = 0

    async def flaky(request: HttpRequest) -> HttpResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            await anyio.sleep(0.02)
            raise TransportError("connection reset", code="CONNECTION_RESET")
        return await api.send(request)

    up = Uploads(provider(), flaky, DictStore())
    errors: list[BaseException] = []

    async def row() -> None:
        try:
            await up.file_part(media)
        except TransportError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(row)
    assert len(errors) == 5 and calls == 1
    assert (await up.file_part(media)).file_uri  # the next attempt uploads
    assert api.started == 1


async def test_delete_all_deletes_the_files_this_run_used(tmp_path: Path) -> None:
    store = DictStore()
    api = FakeFilesApi()
    first = media_file(tmp_path, "a.wav")
    await uploads(api, store).file_part(first)  # an earlier run
    up = uploads(api, store)
    await up.file_part(first)  # reused
    await up.file_part(media_file(tmp_path, "b.wav", size=20_000))  # uploaded

    assert await up.delete_all() == 2
    assert sorted(api.deleted) == ["file1-1", "file2-2"] and store.uploads == {}
    assert await up.delete_all() == 0


async def test_delete_all_counts_a_file_already_gone(tmp_path: Path) -> None:
    api = FakeFilesApi()
    up = uploads(api)
    await up.file_part(media_file(tmp_path))
    api.files.clear()
    assert await up.delete_all() == 1


def test_a_provider_without_files_api_is_refused() -> None:
    class NoFiles:
        kind = "openai"
        supports_files = False

    with pytest.raises(ValueError, match="openai provider has no Files API"):
        Uploads(NoFiles(), FakeFilesApi().send, DictStore())  # type: ignore[arg-type]
