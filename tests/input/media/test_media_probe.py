"""Resolving media paths safely, and learning a file's type, size, duration, pages and tokens from its content."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.errors import RowInvalid
from pipeline.input.media._limits import OPENAI_TYPES
from pipeline.input.media._mime import canonical_mime, detect_mime
from pipeline.input.media._probe import (
    MediaFile,
    estimate_tokens,
    probe_media,
    resolve_media,
)
from pipeline.records import MediaRef

SAMPLES = Path(__file__).resolve().parents[3] / "sample_data" / "media"


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    shutil.copytree(SAMPLES, root)
    return root


def probe(
    path: Path, declared: str | None = None, resolution: str | None = None
) -> MediaFile:
    return probe_media(path, declared, media_resolution=resolution, ref_path=path.name)


# -- resolving -----------------------------------------------------------------------------------------------


def test_a_relative_path_resolves_inside_media_dir(media_dir: Path) -> None:
    assert (
        resolve_media(MediaRef("images/square.png"), media_dir)
        == media_dir / "images/square.png"
    )
    assert (
        resolve_media(MediaRef("./images//square.png"), media_dir)
        == media_dir / "images/square.png"
    )


@pytest.mark.parametrize(
    "name", ["../secret.txt", "images/../../secret.txt", "images/../square.png", ".."]
)
def test_dot_dot_is_refused(media_dir: Path, name: str) -> None:
    (media_dir.parent / "secret.txt").write_text("secret")
    with pytest.raises(RowInvalid, match=r"'\.\.' is refused"):
        resolve_media(MediaRef(name), media_dir)


def test_an_absolute_path_is_refused_even_inside_media_dir(media_dir: Path) -> None:
    with pytest.raises(RowInvalid, match="absolute paths are refused"):
        resolve_media(MediaRef(str(media_dir / "images/square.png")), media_dir)
    with pytest.raises(RowInvalid, match="absolute paths are refused"):
        resolve_media(MediaRef("/etc/passwd"), media_dir)


def test_a_symlink_leading_out_of_media_dir_is_refused(media_dir: Path) -> None:
    outside = media_dir.parent / "outside.png"
    shutil.copy(SAMPLES / "images/square.png", outside)
    (media_dir / "escape.png").symlink_to(outside)
    (media_dir / "escape_dir").symlink_to(media_dir.parent, target_is_directory=True)
    with pytest.raises(RowInvalid, match="symlink that leads outside"):
        resolve_media(MediaRef("escape.png"), media_dir)
    with pytest.raises(RowInvalid, match="symlink that leads outside"):
        resolve_media(MediaRef("escape_dir/outside.png"), media_dir)


def test_a_symlink_inside_media_dir_is_followed(media_dir: Path) -> None:
    (media_dir / "alias.png").symlink_to(media_dir / "images/square.png")
    (media_dir / "pictures").symlink_to("images", target_is_directory=True)
    assert (
        resolve_media(MediaRef("alias.png"), media_dir)
        == media_dir / "images/square.png"
    )
    assert (
        resolve_media(MediaRef("pictures/square.png"), media_dir)
        == media_dir / "images/square.png"
    )


def test_a_media_dir_that_is_itself_a_symlink_works(
    tmp_path: Path, media_dir: Path
) -> None:
    link = tmp_path / "link"
    link.symlink_to(media_dir, target_is_directory=True)
    assert (
        resolve_media(MediaRef("images/square.png"), link)
        == media_dir / "images/square.png"
    )


def test_missing_files_directories_and_no_media_dir_are_refused(
    media_dir: Path,
) -> None:
    with pytest.raises(RowInvalid, match="no such file"):
        resolve_media(MediaRef("images/nope.png"), media_dir)
    with pytest.raises(RowInvalid, match="not a regular file"):
        resolve_media(MediaRef("images"), media_dir)
    with pytest.raises(RowInvalid, match="has no input.media_dir"):
        resolve_media(MediaRef("images/square.png"), None)
    (media_dir / "loop").symlink_to(media_dir / "loop")
    with pytest.raises(RowInvalid, match="cannot be resolved"):
        resolve_media(MediaRef("loop"), media_dir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused(media_dir: Path) -> None:
    target = media_dir / "images/square.png"
    target.chmod(0)
    with pytest.raises(RowInvalid, match="cannot be read"):
        resolve_media(MediaRef("images/square.png"), media_dir)


# -- probing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mime", "kind", "tokens"),
    [
        ("images/square.png", "image/png", "image", 1120),
        ("images/gradient.jpg", "image/jpeg", "image", 1120),
        ("images/chart.webp", "image/webp", "image", 1120),
        ("audio/tone.wav", "audio/wav", "audio", 32),
        ("audio/tone.aiff", "audio/aiff", "audio", 16),
        ("video/clip.mp4", "video/mp4", "video", 2 * (70 + 32)),
        ("docs/report.pdf", "application/pdf", "pdf", 2 * 560),
        ("text/notes.txt", "text/plain", "text", 20),
        ("text/prices.csv", "text/csv", "text", 13),
        ("text/config.json", "application/json", "text", 18),
    ],
)
def test_every_sample_probes_to_its_type(
    name: str, mime: str, kind: str, tokens: int
) -> None:
    media = probe(SAMPLES / name)
    assert (media.mime_type, media.kind, media.estimated_tokens) == (mime, kind, tokens)
    assert media.size == (SAMPLES / name).stat().st_size and len(media.sha256) == 64


def test_metadata_is_read_from_the_content() -> None:
    assert (
        probe(SAMPLES / "images/gradient.jpg").width,
        probe(SAMPLES / "images/gradient.jpg").height,
    ) == (96, 64)
    assert probe(SAMPLES / "audio/tone.wav").duration_s == pytest.approx(1.0)
    assert probe(SAMPLES / "audio/tone.aiff").duration_s == pytest.approx(0.5)
    assert probe(SAMPLES / "video/clip.mp4").duration_s == pytest.approx(2.0)
    assert probe(SAMPLES / "docs/report.pdf").pages == 2


@pytest.mark.parametrize(("resolution", "image", "video"), [
    (None, 1120, 2 * 102), ("low", 280, 2 * 102), ("medium", 560, 2 * 102), ("high", 1120, 2 * 312),
    ("MEDIA_RESOLUTION_LOW", 280, 2 * 102),
])  # fmt: skip
def test_media_resolution_changes_image_and_video_tokens(
    resolution: str | None, image: int, video: int
) -> None:
    assert (
        probe(SAMPLES / "images/square.png", resolution=resolution).estimated_tokens
        == image
    )
    assert (
        probe(SAMPLES / "video/clip.mp4", resolution=resolution).estimated_tokens
        == video
    )
    assert (
        probe(SAMPLES / "docs/report.pdf", resolution=resolution).estimated_tokens
        == 1120
    )


def test_partial_seconds_of_video_count_as_whole_frames() -> None:
    media = probe(SAMPLES / "video/clip.mp4")
    assert estimate_tokens(replace(media, duration_s=2.2), None) == 3 * 102
    assert (
        estimate_tokens(replace(media, duration_s=None, size=500_000), None) == 2 * 102
    )


def test_the_type_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    disguised = tmp_path / "photo.pdf"
    shutil.copy(SAMPLES / "images/square.png", disguised)
    nameless = tmp_path / "blob"
    shutil.copy(SAMPLES / "audio/tone.wav", nameless)
    assert probe(disguised).mime_type == "image/png"
    assert probe(nameless).mime_type == "audio/wav"


def test_a_text_files_subtype_comes_from_its_extension(tmp_path: Path) -> None:
    for name, mime in [
        ("a.csv", "text/csv"),
        ("a.md", "text/plain"),
        ("a.html", "text/html"),
        ("a", "text/plain"),
    ]:
        (tmp_path / name).write_text("x,y\n1,2\n")
        assert probe(tmp_path / name).mime_type == mime
    (tmp_path / "u.txt").write_text("naïve café " * 10)
    # 110 characters (not 130 bytes) / 4
    assert probe(tmp_path / "u.txt").estimated_tokens == 28


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"GIF89a" + bytes(64), "image/gif is not supported"),
        (b"PK\x03\x04" + bytes(64), "is not supported"),
        (bytes(range(256)) * 4, "not a type we recognise"),
    ],
)
def test_unsupported_content_is_refused_naming_the_supported_types(
    tmp_path: Path, content: bytes, what: str
) -> None:
    path = tmp_path / "file.png"  # the name claims an image; the content decides
    path.write_bytes(content)
    with pytest.raises(RowInvalid, match=what) as caught:
        probe(path)
    assert (
        "image/png" in caught.value.reason and "application/pdf" in caught.value.reason
    )


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(RowInvalid, match="not a type we recognise"):
        probe(tmp_path / "empty.png")


def test_a_type_one_provider_lacks_is_refused_for_it() -> None:
    with pytest.raises(RowInvalid, match="audio/aiff is not supported") as caught:
        probe_media(
            SAMPLES / "audio/tone.aiff",
            None,
            media_resolution=None,
            supported=OPENAI_TYPES,
        )
    assert "audio/wav" in caught.value.reason and "video/mp4" not in caught.value.reason


@pytest.mark.parametrize(
    ("name", "declared"),
    [("images/square.png", "image/jpeg"), ("audio/tone.wav", "audio/mp3"), ("docs/report.pdf", "text/plain"),
     ("text/notes.txt", "image/png"), ("video/clip.mp4", "video/webm")],
)  # fmt: skip
def test_a_declared_type_that_contradicts_the_content_is_refused(
    name: str, declared: str
) -> None:
    with pytest.raises(
        RowInvalid, match=f"the row says {declared}, but the content is"
    ):
        probe(SAMPLES / name, declared)


@pytest.mark.parametrize(
    ("name", "declared", "mime"),
    [("audio/tone.wav", "audio/x-wav", "audio/wav"), ("audio/tone.wav", "audio/WAV", "audio/wav"),
     ("images/gradient.jpg", "image/jpg", "image/jpeg"), ("text/notes.txt", "text/csv", "text/csv"),
     ("text/notes.txt", "text/markdown", "text/plain")],
)  # fmt: skip
def test_a_declared_type_that_agrees_is_used(
    name: str, declared: str, mime: str
) -> None:
    assert probe(SAMPLES / name, declared).mime_type == mime


def test_aliases_map_to_the_apis_names() -> None:
    assert canonical_mime("audio/mpeg") == "audio/mp3"
    assert canonical_mime("video/quicktime") == "video/mov"
    assert canonical_mime("Image/JPEG; q=1") == "image/jpeg"


def test_a_3gp_file_matches_both_mp4_and_3gpp(tmp_path: Path) -> None:
    path = tmp_path / "clip.3gp"
    data = (SAMPLES / "video/clip.mp4").read_bytes()
    path.write_bytes(data[:8] + b"3gp4" + data[12:])  # the ftyp brand
    assert detect_mime(path) in ("video/mp4", "video/3gpp")
    assert probe(path, "video/3gpp").mime_type == "video/3gpp"


@pytest.mark.parametrize(
    ("name", "cut", "message"),
    [("docs/report.pdf", 40, "damaged PDF"), ("video/clip.mp4", 200, "cannot read the duration"),
     ("images/square.png", 40, "damaged image/png image")],
)  # fmt: skip
def test_damaged_files_are_refused(
    tmp_path: Path, name: str, cut: int, message: str
) -> None:
    path = tmp_path / Path(name).name
    path.write_bytes((SAMPLES / name).read_bytes()[:cut])
    with pytest.raises(RowInvalid, match=message):
        probe(path).width  # noqa: B018
