"""Media end to end against the emulator, which checks every inline part and file reference it receives.

Each row goes the way the engine takes it: `build_media_parts` -> `build_prompt` -> the Gemini provider ->
the real aiohttp transport -> the emulator on 127.0.0.1 -> the provider's parser.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.errors import FileGone, RowInvalid
from pipeline.input import build_prompt
from pipeline.input.media import (
    MediaContext,
    MediaPlanner,
    build_media_parts,
    media_limits,
)
from pipeline.input.media._probe import probe_media
from pipeline.input.media._uploads import Uploads
from pipeline.providers import GeminiProvider, StaticCredentials
from pipeline.records import MediaRef, Reply, Row
from pipeline.spec import JobSpec, MediaSpec, load_spec
from pipeline.transport import HttpTransport

MODEL = "gemini-3.1-pro-preview"
KEY = "emulator-key"
SAMPLES = Path(__file__).resolve().parents[3] / "sample_data" / "media"

# Media combinations the rows cycle through: every kind alone, and mixed.
COMBOS: tuple[tuple[str, ...], ...] = (
    ("images/square.png",),
    ("images/gradient.jpg", "images/chart.webp"),
    ("audio/tone.wav",),
    ("audio/tone.aiff", "video/clip.mp4"),
    ("video/clip.mp4",),
    ("docs/report.pdf",),
    ("text/notes.txt", "text/prices.csv", "text/config.json"),
    (
        "images/square.png",
        "audio/tone.wav",
        "video/clip.mp4",
        "docs/report.pdf",
        "text/notes.txt",
    ),
    ("docs/report.pdf", "audio/tone.aiff"),
    ("audio/tone.aiff",),
    (),
)


@dataclass
class Stack:
    """A provider, a transport and an emulator, wired together for one test."""

    emulator: EmulatorServer
    provider: GeminiProvider
    transport: HttpTransport
    spec: JobSpec
    store: DictStore
    inline: int = 0  # media parts sent inline
    by_file: int = 0  # media parts sent as Files API references

    def uploads(self, **options: float) -> Uploads:
        return Uploads(
            self.provider,
            self.transport.send,
            self.store,
            poll_interval_s=0.02,
            **options,
        )

    def context(
        self, media_dir: Path, media: MediaSpec, uploads: Uploads | None = None
    ) -> MediaContext:
        planner = MediaPlanner(
            media_limits("gemini", MODEL, media),
            supports_files=True,
            upload_threshold_bytes=media.upload_threshold_bytes,
        )
        return MediaContext(media_dir, planner, uploads or self.uploads())

    async def send(self, row: Row, context: MediaContext) -> tuple[Reply, int]:
        parts, tokens = await build_media_parts(row, context)
        self.inline += sum(part.data is not None for part in parts)
        self.by_file += sum(part.file_uri is not None for part in parts)
        prompt = build_prompt(row, self.spec, parts, media_tokens=tokens)
        response = await self.transport.send(self.provider.build(prompt, timeout_s=30))
        return self.provider.parse(response, prompt), prompt.estimated_input_tokens

    def routes(self) -> dict[str, dict[str, int]]:
        return self.emulator.ledger()["requests_by_route"]  # type: ignore[no-any-return]


class DictStore:
    def __init__(self) -> None:
        self.uploads: dict[str, object] = {}

    def get_upload(self, sha256: str) -> object | None:
        return self.uploads.get(sha256)

    def put_upload(self, sha256: str, upload: object) -> None:
        self.uploads[sha256] = upload

    def forget_upload(self, sha256: str) -> None:
        self.uploads.pop(sha256, None)


@asynccontextmanager
async def stack(
    tmp_path: Path, make_job: object, **config: float
) -> AsyncIterator[Stack]:
    spec = load_spec(make_job([{"id": "x", "prompt": "x"}]))  # type: ignore[operator]
    spec = replace(spec, prompt=replace(spec.prompt, system="Describe briefly."))
    async with EmulatorServer(
        EmulatorConfig(port=0, api_key=KEY, **config)
    ) as emulator:  # type: ignore[arg-type]
        credentials = StaticCredentials("GEMINI_API_KEY", "x-goog-api-key", KEY)
        provider = GeminiProvider(
            model=MODEL, credentials=credentials, base_url=emulator.base_url
        )
        async with HttpTransport(concurrency=32) as transport:
            yield Stack(emulator, provider, transport, spec, DictStore())


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES, tmp_path / "media")
    return tmp_path / "media"


def row(number: int, media: tuple[str, ...]) -> Row:
    prompt = f"Row {number}: describe the attachments."
    return Row(
        id=f"r{number}",
        line=number,
        fields={},
        prompt=prompt,
        media=tuple(MediaRef(m) for m in media),
    )


async def test_a_hundred_and_twenty_mixed_rows_inline_and_uploaded(
    tmp_path: Path, make_job: object, media_dir: Path
) -> None:
    # 12,000 bytes of base64 inline per request: the WAV (16 kB) and the PDF (9 kB) never fit and are
    # uploaded; the AIFF (8 kB) fits alone but moves to the Files API when a row adds the video.
    media = MediaSpec(max_inline_bytes=12_000)
    rows = [row(i, COMBOS[i % len(COMBOS)]) for i in range(120)]
    async with stack(tmp_path, make_job, file_processing_s=0.05) as s:
        context = s.context(media_dir, media)
        results: dict[str, tuple[Reply, int]] = {}

        async def one(r: Row) -> None:
            results[r.id] = await s.send(r, context)

        async with anyio.create_task_group() as tg:
            for r in rows:
                tg.start_soon(one, r)
        ledger = s.emulator.ledger()
        inline, by_file = s.inline, s.by_file

    assert {reply.status for reply, _ in results.values()} == {"ok"}
    assert inline > 100 and by_file > 40
    # The emulator counts tokens by the same rules: every estimate is exact.
    mismatched = {rid: (reply.usage.input_tokens, est) for rid, (reply, est) in results.items()
                  if reply.usage.input_tokens != est}  # fmt: skip
    assert mismatched == {}
    assert ledger["requests_by_route"]["POST /upload/v1beta/files"] == {
        "200": 3 * 2
    }  # start + one chunk each
    assert ledger["uploads"]["count"] == 3 == context.uploads.uploaded  # type: ignore[union-attr]
    generate = {
        route: n
        for route, n in ledger["requests_by_route"].items()
        if "generateContent" in route
    }
    assert sum(sum(statuses.values()) for statuses in generate.values()) == 120
    assert all(set(statuses) == {"200"} for statuses in generate.values())


async def test_every_upload_is_reused_by_later_runs_and_deleted_at_the_end(
    tmp_path: Path, make_job: object, media_dir: Path
) -> None:
    media = MediaSpec(upload_threshold_bytes=0)  # everything through the Files API
    async with stack(tmp_path, make_job) as s:
        first = s.context(media_dir, media)
        reply, _ = await s.send(row(1, COMBOS[7]), first)
        second = s.context(media_dir, media)  # a resumed run: same store, new Uploads
        reply2, _ = await s.send(row(2, COMBOS[7]), second)
        assert reply.status == reply2.status == "ok"
        assert first.uploads.uploaded == 5 and second.uploads.uploaded == 0  # type: ignore[union-attr]

        assert await second.uploads.delete_all() == 5  # type: ignore[union-attr]
        assert s.store.uploads == {}
        assert s.routes()["DELETE /v1beta/files/{id}"] == {"200": 5}


async def test_a_file_the_server_lost_is_forgotten_and_uploaded_again(
    tmp_path: Path, make_job: object, media_dir: Path
) -> None:
    media = MediaSpec(upload_threshold_bytes=0)
    async with stack(tmp_path, make_job) as s:
        context = s.context(media_dir, media)
        await s.send(row(1, ("docs/report.pdf",)), context)
        uploaded = next(iter(s.store.uploads.values()))
        await s.transport.send(s.provider.build_delete_file(uploaded.name))  # type: ignore[attr-defined]

        # 403 "You do not have permission to access the File <id> or it may not exist.": a FileGone naming it
        with pytest.raises(FileGone) as caught:
            await s.send(row(2, ("docs/report.pdf",)), context)
        assert uploaded.name.removeprefix("files/") in caught.value.files
        assert context.uploads.forget_files(caught.value.files) != []  # type: ignore[union-attr]

        reply, _ = await s.send(row(3, ("docs/report.pdf",)), context)
        assert reply.status == "ok" and context.uploads.uploaded == 2  # type: ignore[union-attr]


async def test_processing_files_are_polled_until_active(
    tmp_path: Path, make_job: object, media_dir: Path
) -> None:
    async with stack(tmp_path, make_job, file_processing_s=0.2) as s:
        media = probe_media(
            media_dir / "video/clip.mp4",
            None,
            media_resolution=None,
            ref_path="clip.mp4",
        )
        part = await s.uploads().file_part(media)
        polls = s.routes()["GET /v1beta/files/{id}"]["200"]
    assert part.file_uri and part.mime_type == "video/mp4"
    assert 3 <= polls <= 30


async def test_a_file_the_service_cannot_process_makes_the_row_invalid(
    tmp_path: Path, make_job: object, media_dir: Path
) -> None:
    async with stack(tmp_path, make_job) as s:
        real = probe_media(
            media_dir / "text/notes.txt",
            None,
            media_resolution=None,
            ref_path="notes.txt",
        )
        # Claims to be a video; the bytes are text.
        lying = replace(real, mime_type="video/mp4", kind="video", sha256="0" * 64)
        with pytest.raises(
            RowInvalid, match=r"could not process this video/mp4 file \(state FAILED\)"
        ):
            await s.uploads().file_part(lying)
        assert "0" * 64 not in s.store.uploads
