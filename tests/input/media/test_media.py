"""`build_media_parts`, the engine's entry point: probing, planning, inline bytes and uploads per row."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from pipeline.errors import RowInvalid
from pipeline.input.media import (
    MediaContext,
    MediaFile,
    MediaPlanner,
    build_media_parts,
    media_context,
    media_limits,
)
from pipeline.input.media import _parts as media_module
from pipeline.records import MediaRef, Part, Row
from pipeline.spec import MediaSpec, load_spec

MODEL = "gemini-3.1-pro-preview"
SAMPLES = Path(__file__).resolve().parents[3] / "sample_data" / "media"


def planner(kind: str = "gemini", files: bool = True, **overrides: int) -> MediaPlanner:
    return MediaPlanner(
        media_limits(kind, MODEL, MediaSpec(**overrides)), supports_files=files
    )


class RecordingUploads:
    """Stands in for `Uploads`: records what would be uploaded (its own behaviour is tested in test_uploads)."""

    def __init__(self) -> None:
        self.uploaded: list[str] = []

    async def file_part(self, media: MediaFile) -> Part:
        self.uploaded.append(media.ref_path)
        return Part(
            file_uri=f"https://files.test/{media.sha256[:8]}", mime_type=media.mime_type
        )


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES, tmp_path / "media")
    return tmp_path / "media"


def row(*media: str | MediaRef, prompt: str = "describe", **generation: str) -> Row:
    refs = tuple(m if isinstance(m, MediaRef) else MediaRef(m) for m in media)
    return Row(
        id="r1", line=1, fields={}, prompt=prompt, media=refs, generation=generation
    )


def context(
    media_dir: Path, plan: MediaPlanner | None = None, uploads: object | None = None
) -> MediaContext:
    return MediaContext(media_dir, plan or planner(), uploads)  # type: ignore[arg-type]


async def test_parts_are_inline_bytes_in_row_order_with_token_estimates(
    media_dir: Path,
) -> None:
    parts, tokens = await build_media_parts(
        row("images/square.png", "audio/tone.wav", "docs/report.pdf", "text/notes.txt"),
        context(media_dir),
    )
    assert [p.mime_type for p in parts] == [
        "image/png",
        "audio/wav",
        "application/pdf",
        "text/plain",
    ]
    assert parts[0].data == (media_dir / "images/square.png").read_bytes()
    assert [p.source_path for p in parts] == [
        "images/square.png",
        "audio/tone.wav",
        "docs/report.pdf",
        "text/notes.txt",
    ]
    assert tokens == 1120 + 32 + 2 * 560 + 20


async def test_a_row_without_media_has_no_parts(media_dir: Path) -> None:
    assert await build_media_parts(row(), context(media_dir)) == ((), 0)


async def test_the_rows_media_resolution_wins_over_the_specs(media_dir: Path) -> None:
    ctx = replace(context(media_dir), media_resolution="medium")
    assert (await build_media_parts(row("images/square.png"), ctx))[1] == 560
    assert (
        await build_media_parts(row("images/square.png", media_resolution="low"), ctx)
    )[1] == 280


async def test_files_over_the_inline_limit_are_uploaded(media_dir: Path) -> None:
    uploads = RecordingUploads()
    ctx = context(media_dir, planner(max_inline_bytes=15_000), uploads)
    parts, _ = await build_media_parts(
        row("images/square.png", "audio/tone.wav", "docs/report.pdf"), ctx
    )
    # base64: 420 + 21,392 + 12,292 bytes; the WAV goes, then the rest fits in 15,000.
    assert uploads.uploaded == ["audio/tone.wav"]
    assert parts[0].data is not None and parts[1].file_uri and parts[2].data is not None


async def test_errors_name_the_media_and_make_the_row_invalid(media_dir: Path) -> None:
    with pytest.raises(RowInvalid, match="media '../secret.png'"):
        await build_media_parts(
            row("images/square.png", "../secret.png"), context(media_dir)
        )
    with pytest.raises(
        RowInvalid, match="media 'images/square.png': the row says image/jpeg"
    ):
        await build_media_parts(
            row(MediaRef("images/square.png", "image/jpeg")), context(media_dir)
        )
    with pytest.raises(RowInvalid, match="video/mp4 is not accepted by .* on openai"):
        await build_media_parts(
            row("video/clip.mp4"), context(media_dir, planner("openai", files=False))
        )


async def test_a_file_is_probed_once_for_many_rows(media_dir: Path) -> None:
    ctx = context(media_dir)
    for _ in range(3):
        await build_media_parts(row("docs/report.pdf"), ctx)
    assert len(ctx.probe_cache) == 1
    (media_dir / "docs/report.pdf").write_bytes(
        (SAMPLES / "images/square.png").read_bytes()
    )
    # The file changed: it is probed again.
    parts, _ = await build_media_parts(row("docs/report.pdf"), ctx)
    assert parts[0].mime_type == "image/png"


async def test_rows_needing_a_file_while_it_is_probed_wait_for_that_probe(
    media_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed: list[Path] = []
    real = media_module.probe_media

    def counting(path: Path, *args: object, **kwargs: object) -> MediaFile:
        probed.append(path)
        time.sleep(0.01)  # hashing a large file takes a while
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(media_module, "probe_media", counting)
    ctx = context(media_dir)
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(
                build_media_parts, row("video/clip.mp4", "images/square.png"), ctx
            )
    assert sorted(p.name for p in probed) == ["clip.mp4", "square.png"]


def test_media_context_from_a_spec(make_job: object, media_dir: Path) -> None:
    spec = load_spec(
        make_job(  # type: ignore[operator]
            [{"id": "a", "prompt": "p"}],
            input={"media_dir": str(media_dir)},
            media={"upload_threshold_bytes": 10, "max_images": 2},
            generation={"media_resolution": "low"},
            provider={
                "kind": "openai",
                "model": MODEL,
                "base_url": "http://127.0.0.1:1/v1",
            },
        )
    )

    class OpenAI:
        kind, supports_files = "openai", False

    ctx = media_context(spec, OpenAI())  # type: ignore[arg-type]
    assert (
        ctx.media_dir == media_dir
        and ctx.media_resolution == "low"
        and ctx.uploads is None
    )
    assert ctx.limits.max_images == 2 and ctx.limits.provider_kind == "openai"
    assert (
        ctx.planner.supports_files is False and ctx.planner.upload_threshold_bytes == 10
    )
