"""Checking a row's media against the limits table, and choosing inline or the Files API per file.

Pure decisions over probed `MediaFile`s: no I/O, so every limit is tested with made-up files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pipeline.errors import RowInvalid

from ._limits import MediaLimits
from ._probe import MediaFile, normalise_resolution

Placement = Literal["inline", "upload"]


def base64_size(size: int) -> int:
    """The size of `size` bytes once base64-encoded, which is what inline limits count."""
    return 4 * math.ceil(size / 3)


class MediaPlanner:
    """Checks a row's media against the limits table, and decides inline or Files API per file.

    :param limits: the provider's and model's limits (`media_limits`).
    :param supports_files: the provider has a Files API; without it, a file that cannot go inline is invalid.
    :param upload_threshold_bytes: files at least this large always go through the Files API (when it exists).
    """

    def __init__(
        self,
        limits: MediaLimits,
        *,
        supports_files: bool,
        upload_threshold_bytes: int | None = None,
    ) -> None:
        self.limits = limits
        self.supports_files = supports_files
        self.upload_threshold_bytes = upload_threshold_bytes

    def check(
        self, files: Sequence[MediaFile], *, media_resolution: str | None = None
    ) -> None:
        """Raise RowInvalid, naming the limit and the value, when the files break one of the limits."""
        limits, where = self.limits, self.limits.where
        for media in files:
            if media.mime_type not in limits.supported_mime_types:
                supported = ", ".join(sorted(limits.supported_mime_types))
                raise RowInvalid(
                    f"media {media.ref_path!r}: {media.mime_type} is not accepted by {where}; "
                    f"supported types: {supported}"
                )
            if media.size > limits.max_file_bytes:
                raise RowInvalid(
                    f"media {media.ref_path!r}: file size {media.size:,} bytes is over the "
                    f"{limits.max_file_bytes:,}-byte limit of {where} ([media] max_file_bytes overrides it)"
                )
        images = sum(1 for media in files if media.kind == "image")
        if images > limits.max_images:
            raise RowInvalid(
                f"{images:,} images is over the {limits.max_images:,}-image limit of {where} "
                "([media] max_images overrides it)"
            )
        audio = sum(media.duration_s or 0.0 for media in files if media.kind == "audio")
        if audio > limits.max_audio_s:
            raise RowInvalid(
                f"audio {audio:,.0f} s is over the {limits.max_audio_s:,.0f} s limit of {where} "
                "([media] max_audio_s overrides it)"
            )
        video = sum(media.duration_s or 0.0 for media in files if media.kind == "video")
        video_limit = limits.video_limit_s(normalise_resolution(media_resolution))
        if video > video_limit:
            raise RowInvalid(
                f"video {video:,.0f} s is over the {video_limit:,.0f} s limit of {where} "
                "([media] max_video_s overrides it)"
            )

    def plan(
        self,
        files: Sequence[MediaFile],
        *,
        media_resolution: str | None = None,
        text_bytes: int = 0,
    ) -> list[Placement]:
        """ "inline" or "upload" for each file, after `check`. `text_bytes` is the rest of the request.

        Inline while the request's base64 size stays under the inline limit (and its PDFs under the PDF
        limit); the largest inline file moves to the Files API first, until everything fits.
        """
        self.check(files, media_resolution=media_resolution)
        limits = self.limits
        placements: list[Placement] = []
        for media in files:
            placements.append(
                "upload" if self._must_upload(media, text_bytes) else "inline"
            )
        while True:
            inline = [i for i, how in enumerate(placements) if how == "inline"]
            total = text_bytes + sum(base64_size(files[i].size) for i in inline)
            pdfs = [i for i in inline if files[i].kind == "pdf"]
            pdf_total = sum(base64_size(files[i].size) for i in pdfs)
            if (
                total <= limits.max_inline_request_bytes
                and pdf_total <= limits.max_inline_pdf_bytes
            ):
                return placements
            over_pdf = total <= limits.max_inline_request_bytes
            pool = pdfs if over_pdf else inline
            largest = max(pool, key=lambda i: files[i].size)
            if not self.supports_files:
                what, size, limit = (
                    ("PDFs", pdf_total, limits.max_inline_pdf_bytes)
                    if over_pdf
                    else ("media", total, limits.max_inline_request_bytes)
                )
                raise RowInvalid(
                    f"the row's inline {what} come to {size:,} bytes as base64, over the {limit:,}-byte inline "
                    f"limit of {limits.where}, and {limits.provider_kind} has no Files API; "
                    "send fewer or smaller files per row"
                )
            placements[largest] = "upload"

    def _must_upload(self, media: MediaFile, text_bytes: int) -> bool:
        """True when `media` cannot go inline whatever else the request holds; RowInvalid when it cannot
        go at all (too large to inline, and no Files API)."""
        limits = self.limits
        encoded = base64_size(media.size)
        single_limit = (
            limits.max_inline_pdf_bytes
            if media.kind == "pdf"
            else limits.max_inline_request_bytes
        )
        too_big = encoded + text_bytes > single_limit or (
            limits.max_inline_file_bytes is not None
            and media.size > limits.max_inline_file_bytes
        )
        if not self.supports_files:
            if too_big:
                limit = f"{single_limit:,} bytes as base64 per request"
                if limits.max_inline_file_bytes is not None:
                    limit = f"{limits.max_inline_file_bytes:,} bytes per file, {limit}"
                raise RowInvalid(
                    f"media {media.ref_path!r}: {media.size:,} bytes is too large to send inline to "
                    f"{limits.where} (limit: {limit}), and {limits.provider_kind} has no Files API"
                )
            return False
        threshold = self.upload_threshold_bytes
        return too_big or (threshold is not None and media.size >= threshold)
