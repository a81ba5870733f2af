"""The planner: every limit in the table, and the inline / Files API split."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import RowInvalid
from pipeline.input.media._limits import media_limits
from pipeline.input.media._mime import MediaKind
from pipeline.input.media._plan import MediaPlanner, base64_size
from pipeline.input.media._probe import MediaFile
from pipeline.spec import MediaSpec

MB = 1_000_000
MODEL = "gemini-3.1-pro-preview"
MIMES: dict[MediaKind, str] = {
    "image": "image/png", "audio": "audio/wav", "video": "video/mp4", "pdf": "application/pdf", "text": "text/plain",
}  # fmt: skip


def file(
    kind: MediaKind = "image",
    size: int = 1_000,
    *,
    seconds: float | None = None,
    name: str = "",
) -> MediaFile:
    return MediaFile(
        ref_path=name or f"{kind}-{size}", path=Path("/nonexistent"), mime_type=MIMES[kind], size=size,
        sha256=f"{kind}{size}{name}", kind=kind, duration_s=seconds, pages=1 if kind == "pdf" else None,
    )  # fmt: skip


def planner(
    kind: str = "gemini", files: bool = True, model: str = MODEL, **overrides: float
) -> MediaPlanner:
    threshold = overrides.pop("upload_threshold_bytes", None)
    spec = MediaSpec(**overrides)  # type: ignore[arg-type]
    return MediaPlanner(
        media_limits(kind, model, spec),
        supports_files=files,
        upload_threshold_bytes=None if threshold is None else int(threshold),
    )


# -- limits --------------------------------------------------------------------------------------------------


def test_video_over_the_limit_names_the_value_the_limit_and_the_model() -> None:
    with pytest.raises(RowInvalid) as caught:
        planner().plan([file("video", seconds=3_912)])
    assert caught.value.reason.startswith(
        "video 3,912 s is over the 3,600 s limit of gemini-3.1-pro-preview on gemini"
    )
    assert "[media] max_video_s" in caught.value.reason


def test_low_media_resolution_allows_three_hours_of_video() -> None:
    assert planner().plan([file("video", seconds=3_912)], media_resolution="low") == [
        "inline"
    ]
    with pytest.raises(RowInvalid, match="10,801 s is over the 10,800 s limit"):
        planner().plan(
            [file("video", seconds=10_801)], media_resolution="MEDIA_RESOLUTION_LOW"
        )


def test_video_durations_add_up_per_request() -> None:
    with pytest.raises(RowInvalid, match="video 6 s is over the 5 s limit"):
        planner(max_video_s=5).plan(
            [file("video", seconds=3, name="a"), file("video", seconds=3, name="b")]
        )


def test_audio_limit() -> None:
    assert planner(max_audio_s=10).plan([file("audio", seconds=10)]) == ["inline"]
    with pytest.raises(
        RowInvalid, match=r"audio 11 s is over the 10 s limit of .*max_audio_s"
    ):
        planner(max_audio_s=10).plan(
            [file("audio", seconds=4, name="a"), file("audio", seconds=7, name="b")]
        )
    with pytest.raises(RowInvalid, match="audio 34,201 s is over the 34,200 s limit"):
        planner().plan([file("audio", seconds=9.5 * 3600 + 1)])
    with pytest.raises(
        RowInvalid,
        match="audio 30,241 s is over the 30,240 s limit of gemini-3.1-pro-preview on vertex",
    ):
        planner("vertex", files=False).plan([file("audio", seconds=8.4 * 3600 + 1)])


def test_image_count_limit() -> None:
    three = [file("image", name=str(i)) for i in range(3)]
    assert planner(max_images=3).plan(three) == ["inline"] * 3
    with pytest.raises(
        RowInvalid, match=r"4 images is over the 3-image limit of .*max_images"
    ):
        planner(max_images=3).plan([*three, file("image", name="x")])
    with pytest.raises(
        RowInvalid,
        match="901 images is over the 900-image limit of gemini-3.1-pro-preview on vertex",
    ):
        planner("vertex", files=False).plan(
            [file("image", size=10, name=str(i)) for i in range(901)]
        )
    with pytest.raises(
        RowInvalid,
        match="15 images is over the 14-image limit of gemini-3-pro-image on gemini",
    ):
        planner(model="gemini-3-pro-image").plan(
            [file("image", name=str(i)) for i in range(15)]
        )


def test_file_size_limit() -> None:
    with pytest.raises(
        RowInvalid,
        match=r"file size 2,001 bytes is over the 2,000-byte limit of .*max_file_bytes",
    ):
        planner(max_file_bytes=2_000).plan([file("pdf", size=2_001)])
    with pytest.raises(RowInvalid, match="over the 2,000,000,000-byte limit"):
        planner().plan([file("video", size=2_000 * MB + 1, seconds=60)])


def test_a_type_the_provider_does_not_take() -> None:
    with pytest.raises(
        RowInvalid,
        match="video/mp4 is not accepted by gemini-3.1-pro-preview on openai",
    ):
        planner("openai", files=False).plan([file("video", seconds=1)])


# -- inline or upload ----------------------------------------------------------------------------------------


def test_small_files_go_inline() -> None:
    assert (
        planner().plan([file("image"), file("audio", seconds=1), file("text")])
        == ["inline"] * 3
    )


def test_the_largest_files_move_to_the_files_api_until_the_rest_fits() -> None:
    files = [
        file("image", 300),
        file("video", 900, seconds=1),
        file("audio", 600, seconds=1),
        file("text", 150),
    ]
    # base64 sizes: 400, 1,200, 800 and 200, 2,600 in all.
    assert planner(max_inline_bytes=2_600).plan(files) == ["inline"] * 4
    assert planner(max_inline_bytes=1_500).plan(files) == [
        "inline",
        "upload",
        "inline",
        "inline",
    ]
    assert planner(max_inline_bytes=1_300).plan(files) == [
        "inline",
        "upload",
        "upload",
        "inline",
    ]
    assert planner(max_inline_bytes=1_500).plan(files, text_bytes=200) == [
        "inline",
        "upload",
        "upload",
        "inline",
    ]


def test_the_inline_limit_counts_base64_size() -> None:
    assert base64_size(3) == 4 and base64_size(4) == 8 and base64_size(0) == 0
    assert planner(max_inline_bytes=1_335).plan([file("image", 1_000)]) == ["upload"]
    assert planner(max_inline_bytes=1_336).plan([file("image", 1_000)]) == ["inline"]


def test_pdfs_have_their_own_inline_limit() -> None:
    pdfs = [file("pdf", 30 * MB, name="a"), file("pdf", 20 * MB, name="b")]
    # 40 MB + 26.7 MB as base64 is over 50 MB of PDFs, but well under the 100 MB request limit.
    assert planner().plan([*pdfs, file("image", 30 * MB)]) == [
        "upload",
        "inline",
        "inline",
    ]


def test_upload_threshold_sends_large_files_through_the_files_api() -> None:
    files = [file("image", 999), file("image", 1_000, name="b")]
    assert planner(upload_threshold_bytes=1_000).plan(files) == ["inline", "upload"]
    assert planner(upload_threshold_bytes=0).plan(files) == ["upload", "upload"]
    assert planner("openai", files=False, upload_threshold_bytes=0).plan(files) == [
        "inline",
        "inline",
    ]


def test_without_a_files_api_a_file_too_large_to_inline_is_invalid() -> None:
    with pytest.raises(
        RowInvalid,
        match=r"image-1000.*too large to send inline.*openai has no Files API",
    ):
        planner("openai", files=False, max_inline_bytes=1_000).plan(
            [file("image", 1_000)]
        )
    with pytest.raises(
        RowInvalid,
        match="inline media come to 1,600 bytes as base64, over the 1,500-byte",
    ):
        planner("openai", files=False, max_inline_bytes=1_500).plan(
            [file("image", 600, name="a"), file("image", 600)]
        )


def test_vertex_refuses_an_inline_file_over_seven_mb() -> None:
    assert planner("vertex", files=False).plan([file("image", 7 * MB)]) == ["inline"]
    with pytest.raises(
        RowInvalid,
        match="7,000,001 bytes is over the 7,000,000-byte limit of .* on vertex",
    ):
        planner("vertex", files=False).plan([file("image", 7 * MB + 1)])
    # Raising the file limit leaves the per-file inline limit in place.
    raised = planner("vertex", files=False, max_file_bytes=100 * MB)
    with pytest.raises(
        RowInvalid,
        match=r"7,000,001 bytes is too large to send inline to .* on vertex \(limit: 7,000,000",
    ):
        raised.plan([file("image", 7 * MB + 1)])
