"""The limits table by provider and model, and the spec's `[media]` overrides."""

from __future__ import annotations

import pytest

from pipeline.input.media._limits import GOOGLE_TYPES, OPENAI_TYPES, media_limits
from pipeline.spec import MediaSpec

MB = 1_000_000


def test_gemini_api_limits() -> None:
    limits = media_limits("gemini", "gemini-3.1-pro-preview", MediaSpec())
    assert (
        limits.max_inline_request_bytes == 100 * MB
        and limits.max_inline_pdf_bytes == 50 * MB
    )
    assert limits.max_inline_file_bytes is None and limits.max_file_bytes == 2_000 * MB
    assert limits.max_images == 3_600
    assert limits.max_audio_s == 9.5 * 3600
    assert (
        limits.video_limit_s(None) == 3600 and limits.video_limit_s("low") == 3 * 3600
    )
    assert limits.supported_mime_types == GOOGLE_TYPES
    assert limits.where == "gemini-3.1-pro-preview on gemini"


def test_vertex_limits() -> None:
    limits = media_limits("vertex", "gemini-3.1-pro-preview")
    assert limits.max_inline_file_bytes == 7 * MB and limits.max_images == 900
    assert limits.max_audio_s == pytest.approx(8.4 * 3600)


def test_openai_compatible_limits_take_no_video() -> None:
    limits = media_limits("openai", "gemini-3.1-pro-preview")
    assert (
        "video/mp4" not in limits.supported_mime_types
        and limits.supported_mime_types == OPENAI_TYPES
    )
    assert {
        "image/png",
        "audio/wav",
        "audio/mp3",
        "application/pdf",
        "text/plain",
    } <= limits.supported_mime_types
    assert limits.max_file_bytes == 20 * MB


@pytest.mark.parametrize(
    "model",
    [
        "gemini-3-pro-image",
        "gemini-3.1-flash-image-preview",
        "models/gemini-3-pro-image",
    ],
)
def test_image_models_take_fourteen_images(model: str) -> None:
    assert media_limits("gemini", model).max_images == 14
    assert media_limits("vertex", model).max_images == 14


def test_an_unknown_kind_gets_the_gemini_figures() -> None:
    assert media_limits("proxy", "m").max_images == 3_600


def test_spec_overrides_win() -> None:
    spec = MediaSpec(
        max_inline_bytes=1_000,
        max_file_bytes=2_000,
        max_images=3,
        max_audio_s=4.0,
        max_video_s=5.0,
    )
    limits = media_limits("gemini", "gemini-3.1-pro-preview", spec)
    assert (limits.max_inline_request_bytes, limits.max_inline_pdf_bytes) == (
        1_000,
        1_000,
    )
    assert (limits.max_file_bytes, limits.max_images, limits.max_audio_s) == (
        2_000,
        3,
        4.0,
    )
    assert limits.video_limit_s(None) == limits.video_limit_s("low") == 5.0


def test_a_large_inline_override_keeps_the_pdf_limit() -> None:
    limits = media_limits(
        "gemini", "gemini-3.1-pro-preview", MediaSpec(max_inline_bytes=500 * MB)
    )
    assert (
        limits.max_inline_request_bytes == 500 * MB
        and limits.max_inline_pdf_bytes == 50 * MB
    )
