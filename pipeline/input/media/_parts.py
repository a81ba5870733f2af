"""A row's media -> request parts: resolve, probe, check the limits, then inline or upload each file.

The engine calls one function per row, from its `prepare` hook::

    context = media_context(spec, provider, transport.send, journal)     # once per run
    parts, tokens = await build_media_parts(row, context)               # per row
    prompt = build_prompt(row, spec, parts, media_tokens=tokens)
    ...
    # a FileGone on generateContent: the server lost a file; forget it and retry the row
    if context.uploads and context.uploads.forget_files(gone.files): retry    # gone: a FileGone error
    ...
    if spec.media.delete_uploads and context.uploads: await context.uploads.delete_all()

A file goes inline (its bytes in the request, base64) while the whole request stays under the provider's
inline limit; the largest files go through the Files API first (`MediaPlanner`). Inline bytes are read
when the row is prepared and live as long as its `Prompt` does (until the row's outcome), so a run holds
at most `concurrency` rows' inline media in memory: up to 100 MB each on the Gemini API. Lower that with
`[media] upload_threshold_bytes` (files at or over it always go through the Files API) or `max_inline_bytes`.

The pieces live in `_limits.py` (the table), `_probe.py` (paths, metadata, token estimates), `_mime.py`
(types from content), `_plan.py` (limits, inline or upload) and `_uploads.py` (the Files API); the package's
`__init__` re-exports their public names.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import anyio

from pipeline.errors import RowInvalid
from pipeline.records import MediaRef, Part, Row
from pipeline.spec import JobSpec

from ._limits import MediaLimits, media_limits
from ._plan import MediaPlanner, base64_size
from ._probe import MediaFile, normalise_resolution, probe_media, resolve_media
from ._uploads import FilesApi, Send, Uploads, UploadStore

__all__ = (
    "MediaContext",
    "MediaFile",
    "MediaLimits",
    "MediaPlanner",
    "Uploads",
    "base64_size",
    "build_media_parts",
    "media_context",
    "media_limits",
    "probe_media",
    "probe_row",
    "resolve_media",
)

_PROBE_CACHE_SIZE = 4_096
_STRIPES = 64


@dataclass(slots=True)
class MediaContext:
    """What `build_media_parts` needs for every row of a run; build it once with `media_context`."""

    media_dir: Path | str | None  # a local folder, or a URL
    planner: MediaPlanner
    uploads: Uploads | None
    # The spec's media_resolution; a row's `generation.media_resolution` wins.
    media_resolution: str | None = None
    probe_cache: dict[tuple[object, ...], MediaFile] = field(default_factory=dict)
    # Probes run in worker threads: one lock for the cache, and striped locks by path so that rows that
    # need a file while it is first hashed wait for that probe instead of hashing it again.
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stripes: tuple[threading.Lock, ...] = field(
        default_factory=lambda: tuple(threading.Lock() for _ in range(_STRIPES))
    )

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
    with context._stripes[hash(path) % _STRIPES]:
        if isinstance(path, Path):
            stat = path.stat()
            size, mtime_ns = stat.st_size, stat.st_mtime_ns
        else:
            info = path.info()
            size, mtime_ns = info.size, info.mtime_ns
        resolution = normalise_resolution(media_resolution)
        key = (path, size, mtime_ns, ref.mime_type, resolution)
        with context._lock:
            media = context.probe_cache.get(key)
        if media is None:
            # Any type some provider takes: the planner names the provider that does not take it.
            media = probe_media(
                path,
                ref.mime_type,
                media_resolution=media_resolution,
                ref_path=ref.path,
            )
            with context._lock:
                cache = context.probe_cache
                if len(cache) >= _PROBE_CACHE_SIZE:
                    del cache[next(iter(cache))]
                cache[key] = media
    if media.ref_path != ref.path:
        # The same file under another name: messages use this row's name for it.
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
