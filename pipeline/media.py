"""A row's media -> request parts: resolve, probe, check the limits, then inline or upload each file.

The engine calls one function per row, from its `prepare` hook::

    context = media_context(spec, provider, transport.send, journal)     # once per run
    parts, tokens = await build_media_parts(row, context)               # per row
    prompt = build_prompt(row, spec, parts, media_tokens=tokens)
    ...
    if spec.media.delete_uploads and context.uploads: await context.uploads.delete_all()

A file goes inline (its bytes in the request, base64) while the whole request stays under the provider's
inline limit; the largest files go through the Files API first (`MediaPlanner`). Inline bytes are read
when the row is prepared and live as long as its `Prompt` does (until the row's outcome), so a run holds
at most `concurrency` rows' inline media in memory: up to 100 MB each on the Gemini API. Lower that with
`[media] upload_threshold_bytes` (files at or over it always go through the Files API) or `max_inline_bytes`.

The pieces live in `media_limits.py` (the table), `media_probe.py` (paths, types, metadata, token
estimates) and `uploads.py` (the Files API); their public names are re-exported here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import anyio

from pipeline.errors import RowInvalid
from pipeline.media_limits import MediaLimits, media_limits
from pipeline.media_probe import (
    MediaFile,
    normalise_resolution,
    probe_media,
    resolve_media,
)
from pipeline.records import MediaRef, Part, Row
from pipeline.spec import JobSpec
from pipeline.uploads import FilesApi, Send, Uploads, UploadStore

__all__ = (
    "MediaContext",
    "MediaFile",
    "MediaLimits",
    "MediaPlanner",
    "Uploads",
    "build_media_parts",
    "media_context",
    "media_limits",
    "probe_media",
    "resolve_media",
)

Placement = Literal["inline", "upload"]
_PROBE_CACHE_SIZE = 4_096


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


@dataclass(slots=True)
class MediaContext:
    """What `build_media_parts` needs for every row of a run; build it once with `media_context`."""

    media_dir: Path | None
    planner: MediaPlanner
    uploads: Uploads | None
    # The spec's media_resolution; a row's `generation.media_resolution` wins.
    media_resolution: str | None = None
    probe_cache: dict[tuple[object, ...], MediaFile] = field(default_factory=dict)

    @property
    def limits(self) -> MediaLimits:
        return self.planner.limits


def media_context(
    spec: JobSpec,
    provider: FilesApi,
    send: Send | None = None,
    store: UploadStore | None = None,
    *,
    poll_interval_s: float = 0.5,
    max_wait_s: float = 600,
) -> MediaContext:
    """The run's media context. `send` and `store` are needed only when the provider has a Files API
    (`pipeline estimate` can pass neither: it never uploads)."""
    limits = media_limits(spec.provider.kind, spec.provider.model, spec.media)
    uploads = None
    if provider.supports_files and send is not None and store is not None:
        uploads = Uploads(
            provider,
            send,
            store,
            poll_interval_s=poll_interval_s,
            max_wait_s=max_wait_s,
        )
    planner = MediaPlanner(
        limits,
        supports_files=uploads is not None,
        upload_threshold_bytes=spec.media.upload_threshold_bytes,
    )
    return MediaContext(
        spec.input.media_dir, planner, uploads, spec.generation.media_resolution
    )


async def probe_row(
    row: Row, context: MediaContext, media_resolution: str | None = None
) -> list[MediaFile]:
    """Resolve and probe every media file of `row` (in a worker thread); RowInvalid names the bad one."""
    files = []
    for ref in row.media:
        files.append(
            await anyio.to_thread.run_sync(
                _probe_cached, ref, context, media_resolution
            )
        )
    return files


def _probe_cached(
    ref: MediaRef, context: MediaContext, media_resolution: str | None
) -> MediaFile:
    """Probing hashes the whole file, so a file named by many rows is probed once (until it changes)."""
    path = resolve_media(ref, context.media_dir)
    stat = path.stat()
    key = (
        path,
        stat.st_size,
        stat.st_mtime_ns,
        ref.mime_type,
        normalise_resolution(media_resolution),
    )
    cache = context.probe_cache
    media = cache.get(key)
    if media is None:
        media = probe_media(
            path,
            ref.mime_type,
            media_resolution=media_resolution,
            ref_path=ref.path,
            supported=context.limits.supported_mime_types,
        )
        if len(cache) >= _PROBE_CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[key] = media
    if (
        media.ref_path != ref.path
    ):  # the same file under another name: messages should use this row's name
        media = replace(media, ref_path=ref.path)
    return media


async def build_media_parts(
    row: Row, context: MediaContext
) -> tuple[tuple[Part, ...], int]:
    """The row's media as request parts, in the row's order, and their estimated input tokens.

    :raises RowInvalid: a path that leaves media_dir, an unreadable, unsupported or damaged file, a
        declared mime_type that contradicts the content, any limit exceeded, or a file the provider
        could not process.
    :raises AttemptError: an upload failed in a way that retrying the row may fix.
    """
    if not row.media:
        return (), 0
    resolution = row.generation.get("media_resolution") or context.media_resolution
    resolution = resolution if isinstance(resolution, str) else None
    files = await probe_row(row, context, resolution)
    placements = context.planner.plan(
        files, media_resolution=resolution, text_bytes=len(row.prompt.encode())
    )
    parts: list[Part] = []
    for media, how in zip(files, placements, strict=True):
        if how == "upload":
            # The planner picks "upload" only when there is a Files API.
            assert context.uploads is not None
            parts.append(await context.uploads.file_part(media))
        else:
            data = await anyio.to_thread.run_sync(_read_checked, media)
            parts.append(
                Part(data=data, mime_type=media.mime_type, source_path=media.ref_path)
            )
    return tuple(parts), sum(media.estimated_tokens for media in files)


def _read_checked(media: MediaFile) -> bytes:
    """The file's bytes, refused if they are not the bytes that were probed (the file changed since)."""
    data = media.path.read_bytes()
    if len(data) != media.size or hashlib.sha256(data).hexdigest() != media.sha256:
        raise RowInvalid(
            f"media {media.ref_path!r}: the file changed while the run was reading it; run again"
        )
    return data
