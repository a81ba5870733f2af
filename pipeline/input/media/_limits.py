"""Per-request media limits by provider and model, and the MIME types each provider accepts.

The two Google front doors publish different limits for the same models (reference, "Limits by provider");
the job spec's `[media]` table overrides any of them. A row over a limit is refused before it is sent, so it
costs nothing. The figures:

| limit | gemini (AI Studio) | vertex | openai-compatible (our choice) |
|---|---|---|---|
| inline data per request (base64 size) | 100 MB | 100 MB | 50 MB |
| inline PDFs per request (base64 size) | 50 MB | 50 MB | 50 MB |
| one inline file (raw size) | - | 7 MB | 20 MB |
| one file (Files API) | 2 GB | 7 MB (inline only) | 20 MB (inline only) |
| images per request | 3,600 (14 for image models) | 900 (14) | 500 (14) |
| audio per request | 9.5 h | 8.4 h | 9.5 h |
| video per request | 1 h (3 h at low media resolution) | same | not accepted |

The OpenAI-compatible figures are ours: that API has no Files API, so media travel inline (images as data
URLs, audio as `input_audio`, PDFs as file parts) and we keep them at sizes such endpoints commonly accept.
Vertex's 45-minute limit for video with sound is not applied: we cannot tell cheaply whether a video has sound.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.catalog import max_input_images
from pipeline.spec import MediaSpec

MB = 1_000_000
HOUR = 3_600.0

IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}
)
AUDIO_TYPES = frozenset(
    {"audio/wav", "audio/mp3", "audio/aiff", "audio/aac", "audio/ogg", "audio/flac"}
)
VIDEO_TYPES = frozenset(
    {
        "video/mp4", "video/mpeg", "video/mov", "video/avi", "video/x-flv",
        "video/mpg", "video/webm", "video/wmv", "video/3gpp",
    }
)  # fmt: skip
PDF_TYPES = frozenset({"application/pdf"})
TEXT_TYPES = frozenset(
    {
        "text/plain", "text/html", "text/css", "text/xml", "text/csv",
        "text/rtf", "text/javascript", "application/json",
    }
)  # fmt: skip
GOOGLE_TYPES = IMAGE_TYPES | AUDIO_TYPES | VIDEO_TYPES | PDF_TYPES | TEXT_TYPES
# OpenAI's chat format carries images (data URLs), wav/mp3 audio (`input_audio`), PDFs (file parts) and text.
OPENAI_TYPES = (
    frozenset({"image/png", "image/jpeg", "image/webp", "audio/wav", "audio/mp3"})
    | PDF_TYPES
    | TEXT_TYPES
)
ALL_TYPES = GOOGLE_TYPES | OPENAI_TYPES


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """What one request may carry, for one provider kind and model. Sizes in bytes, durations in seconds.

    `max_inline_request_bytes` and `max_inline_pdf_bytes` count the base64-encoded size (4/3 of the raw
    size), as the API does; `max_inline_file_bytes` and `max_file_bytes` count a file's raw size.
    """

    provider_kind: str
    model: str
    max_inline_request_bytes: int
    max_inline_pdf_bytes: int
    # One inline file; None: only the request limits apply.
    max_inline_file_bytes: int | None
    max_file_bytes: int
    max_images: int
    max_audio_s: float
    max_video_s: float
    max_video_low_res_s: float  # at media_resolution = "low"
    supported_mime_types: frozenset[str]

    @property
    def where(self) -> str:
        """`gemini-3.1-pro-preview on gemini`, for messages."""
        return f"{self.model} on {self.provider_kind}"

    def video_limit_s(self, media_resolution: str | None) -> float:
        return (
            self.max_video_low_res_s if media_resolution == "low" else self.max_video_s
        )


_GEMINI = MediaLimits(
    provider_kind="gemini",
    model="",
    max_inline_request_bytes=100 * MB,
    max_inline_pdf_bytes=50 * MB,
    max_inline_file_bytes=None,
    max_file_bytes=2_000 * MB,
    max_images=3_600,
    max_audio_s=9.5 * HOUR,
    max_video_s=1 * HOUR,
    max_video_low_res_s=3 * HOUR,
    supported_mime_types=GOOGLE_TYPES,
)
_TABLE: dict[str, MediaLimits] = {
    "gemini": _GEMINI,
    "vertex": replace(
        _GEMINI,
        provider_kind="vertex",
        max_inline_file_bytes=7 * MB,
        # No Files API through Vertex here: every file travels inline.
        max_file_bytes=7 * MB,
        max_images=900,
        max_audio_s=8.4 * HOUR,
    ),
    "openai": replace(
        _GEMINI,
        provider_kind="openai",
        max_inline_request_bytes=50 * MB,
        max_inline_file_bytes=20 * MB,
        max_file_bytes=20 * MB,
        max_images=500,
        max_video_s=0.0,
        max_video_low_res_s=0.0,
        supported_mime_types=OPENAI_TYPES,
    ),
}


def media_limits(
    provider_kind: str, model: str, overrides: MediaSpec | None = None
) -> MediaLimits:
    """The limits for `model` on `provider_kind` ("gemini", "vertex", "openai"), with the spec's `[media]`
    overrides applied. An unknown kind gets the Gemini API's figures.

    `max_inline_bytes` overrides the per-request inline limit and caps the PDF one; `max_video_s` sets the
    video limit at every media resolution.
    """
    limits = replace(
        _TABLE.get(provider_kind, _GEMINI), provider_kind=provider_kind, model=model
    )
    model_cap = max_input_images(model)  # the catalog's: 14 on the image models
    if model_cap is not None:
        limits = replace(limits, max_images=min(limits.max_images, model_cap))
    if overrides is None:
        return limits
    if overrides.max_inline_bytes is not None:
        limits = replace(
            limits,
            max_inline_request_bytes=overrides.max_inline_bytes,
            max_inline_pdf_bytes=min(
                limits.max_inline_pdf_bytes, overrides.max_inline_bytes
            ),
        )
    if overrides.max_file_bytes is not None:
        limits = replace(limits, max_file_bytes=overrides.max_file_bytes)
    if overrides.max_images is not None:
        limits = replace(limits, max_images=overrides.max_images)
    if overrides.max_audio_s is not None:
        limits = replace(limits, max_audio_s=overrides.max_audio_s)
    if overrides.max_video_s is not None:
        limits = replace(
            limits,
            max_video_s=overrides.max_video_s,
            max_video_low_res_s=overrides.max_video_s,
        )
    return limits
