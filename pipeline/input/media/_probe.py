"""Find a row's media file under `media_dir`, and learn what it is without trusting its name.

`resolve_media` refuses any path that could read a file outside `media_dir`. `probe_media` takes the MIME
type from the content (`media_mime`), reads durations (mutagen), page counts
(pypdf) and image sizes (Pillow), hashes the file, and estimates its input tokens. Both do blocking file
I/O: call them from a worker thread (`anyio.to_thread.run_sync`).

Token estimates, the same rules as the emulator's (Gemini 3 figures, reference sections 5 and 7):

| kind | tokens |
|---|---|
| image | 1,120 (default and high media resolution), 560 at medium, 280 at low |
| PDF | 560 per page |
| audio | 32 per second |
| video | 70 per started second at default, low and medium resolution, 280 at high; plus 32 for sound |
| text | characters / 4 |

Each file's estimate is rounded up. A video whose duration cannot be read (containers other than MP4, MOV
and 3GP) is estimated at an assumed 2 Mbit/s, and is not checked against the duration limit.
"""

from __future__ import annotations

import codecs
import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.errors import RowInvalid
from pipeline.records import MediaRef
from pipeline.storage import location

from ._limits import ALL_TYPES
from ._mime import (
    MediaKind,
    MediaPath,
    agrees,
    canonical_mime,
    detect_mime,
    kind_of,
    media_source,
    open_media,
)

IMAGE_TOKENS = {"low": 280, "medium": 560, "high": 1_120, "default": 1_120}
PDF_PAGE_TOKENS = 560
AUDIO_TOKENS_PER_S = 32
VIDEO_TOKENS_PER_S = {"low": 70, "medium": 70, "high": 280, "default": 70}
# 2 Mbit/s: the assumed rate of a video whose duration cannot be read (the emulator assumes the same).
UNKNOWN_VIDEO_BYTES_PER_S = 250_000

_READ_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A resolved, probed media file. It holds no bytes: inline data is read when the request is built."""

    ref_path: str  # as the row named it, for messages
    path: MediaPath  # resolved, inside media_dir (a local path, or an object under a remote media_dir)
    mime_type: str  # canonical (e.g. audio/wav, video/mov), as the API names it
    size: int
    sha256: str  # hex digest of the content: the key under which uploads are reused
    kind: MediaKind
    duration_s: float | None = None
    pages: int | None = None
    width: int | None = None
    height: int | None = None
    estimated_tokens: int = 0


def resolve_media(ref: MediaRef, media_dir: Path | str | None) -> MediaPath:
    """The file `ref` names, inside `media_dir`; raises RowInvalid for anything that could read elsewhere.

    Refused: no `media_dir` in the spec, absolute paths, `..` anywhere, symlinks that lead out of
    `media_dir` (checked after resolving every link), and missing, unreadable or non-regular files.
    Symlinks that stay inside `media_dir` are followed. A remote `media_dir` (a URL) has no symlinks: the
    object under it is looked up (one metadata request) and returned as a `Location`.
    """
    name = ref.path
    if media_dir is None:
        raise RowInvalid(
            f"media {name!r}: the job spec has no input.media_dir, so media paths cannot be resolved"
        )
    relative = Path(name)
    if (
        not name
        or relative.is_absolute()
        or name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")
    ):
        raise RowInvalid(
            f"media {name!r}: absolute paths are refused; give a path relative to input.media_dir"
        )
    if ".." in relative.parts or ".." in name.replace("\\", "/").split("/"):
        raise RowInvalid(
            f"media {name!r}: '..' is refused; media paths must stay inside input.media_dir"
        )
    if isinstance(media_dir, str):
        return _resolve_remote(name, relative, media_dir)
    root = media_dir.resolve()
    try:
        target = (root / relative).resolve(strict=True)
    except FileNotFoundError:
        raise RowInvalid(f"media {name!r}: no such file under {root}") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise RowInvalid(f"media {name!r}: cannot be resolved ({exc})") from None
    if not target.is_relative_to(root):
        raise RowInvalid(
            f"media {name!r}: it is a symlink that leads outside input.media_dir; refused"
        )
    if not target.is_file():
        raise RowInvalid(
            f"media {name!r}: not a regular file (a directory or a device?)"
        )
    try:
        with target.open("rb"):
            pass
    except OSError as exc:
        raise RowInvalid(
            f"media {name!r}: cannot be read ({exc.strerror or exc})"
        ) from None
    return target


def _resolve_remote(name: str, relative: Path, media_dir: str) -> MediaPath:
    target = location(media_dir) / relative.as_posix()
    try:
        kind = target.info().kind
    except OSError as exc:
        raise RowInvalid(f"media {name!r}: cannot be read ({exc})") from None
    if kind is None:
        raise RowInvalid(f"media {name!r}: no such file under {media_dir}")
    if kind != "file":
        raise RowInvalid(f"media {name!r}: not a regular file (a directory?)")
    return target


def probe_media(
    path: MediaPath,
    declared_mime: str | None,
    *,
    media_resolution: str | None,
    ref_path: str | None = None,
    supported: frozenset[str] = ALL_TYPES,
) -> MediaFile:
    """Sniff, measure, hash and estimate one file already resolved by `resolve_media`.

    Raises RowInvalid when the content is not a supported type, when `declared_mime` (the row's
    `mime_type`) contradicts the content, or when the file is damaged (no duration, no pages, no image).
    """
    name = ref_path or path.name
    detected = detect_mime(path, supported=supported)
    supported_list = ", ".join(sorted(supported))
    if detected is None:
        raise RowInvalid(
            f"media {name!r}: the content is not a type we recognise; supported types: {supported_list}"
        )
    if declared_mime is not None:
        declared = canonical_mime(declared_mime)
        if not agrees(declared, detected, path):
            raise RowInvalid(
                f"media {name!r}: the row says {declared_mime}, but the content is {detected}; "
                "fix or remove the row's mime_type"
            )
        if declared in supported:
            detected = declared
    kind = kind_of(detected)
    if kind is None or detected not in supported:
        raise RowInvalid(
            f"media {name!r}: {detected} is not supported; supported types: {supported_list}"
        )
    size, sha256, chars = _hash(path, count_chars=kind == "text")
    resolution = normalise_resolution(media_resolution)
    media = MediaFile(
        ref_path=name,
        path=path,
        mime_type=detected,
        size=size,
        sha256=sha256,
        kind=kind,
    )
    if kind == "image":
        media = _with_image_size(media)
    elif kind in ("audio", "video"):
        media = _with_duration(media)
    elif kind == "pdf":
        media = _with_pages(media)
    return _with_tokens(media, resolution, chars)


def normalise_resolution(value: str | None) -> str:
    """ "MEDIA_RESOLUTION_LOW", "low" -> "low"; None or unspecified -> "default"; ultra high -> "high"."""
    level = (value or "").strip().lower().removeprefix("media_resolution_")
    if level in ("", "unspecified", "default"):
        return "default"
    return level if level in ("low", "medium") else "high"


def estimate_tokens(
    media: MediaFile, media_resolution: str | None, *, chars: int = 0
) -> int:
    """Input tokens for one file, per the table in this module's docstring."""
    resolution = normalise_resolution(media_resolution)
    if media.kind == "image":
        return IMAGE_TOKENS[resolution]
    if media.kind == "pdf":
        return PDF_PAGE_TOKENS * (media.pages or 1)
    if media.kind == "audio":
        return math.ceil(AUDIO_TOKENS_PER_S * (media.duration_s or 0.0))
    if media.kind == "video":
        seconds = (
            media.duration_s
            if media.duration_s is not None
            else media.size / UNKNOWN_VIDEO_BYTES_PER_S
        )
        # One frame per started second: the service samples video at 1 fps.
        per_second = VIDEO_TOKENS_PER_S[resolution] + AUDIO_TOKENS_PER_S
        return math.ceil(seconds) * per_second
    return math.ceil(chars / 4)


def _with_tokens(media: MediaFile, resolution: str, chars: int) -> MediaFile:
    return replace(
        media, estimated_tokens=estimate_tokens(media, resolution, chars=chars)
    )


def _hash(path: MediaPath, *, count_chars: bool) -> tuple[int, str, int]:
    """(size, sha256 hex, characters when `count_chars`), reading the file once in 1 MiB blocks."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    size = chars = 0
    with open_media(path) as handle:
        while block := handle.read(_READ_BLOCK):
            digest.update(block)
            size += len(block)
            if count_chars:
                chars += len(decoder.decode(block))
    if count_chars:
        chars += len(decoder.decode(b"", final=True))
    return size, digest.hexdigest(), chars


# The readers below are imported on first use: pypdf, Pillow and mutagen add 120 ms to the start-up of every
# run, and most runs send no media.


def _with_image_size(media: MediaFile) -> MediaFile:
    from PIL import Image, UnidentifiedImageError

    try:
        with media_source(media.path) as source, Image.open(source) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as exc:
        if media.mime_type in ("image/heic", "image/heif"):
            return media  # Pillow cannot read HEIF without a plugin; the size is only informative
        raise RowInvalid(
            f"media {media.ref_path!r}: a damaged {media.mime_type} image ({exc})"
        ) from None
    return replace(media, width=width, height=height)


def _with_duration(media: MediaFile) -> MediaFile:
    import mutagen

    try:
        with media_source(media.path) as source:
            info = mutagen.File(source)
    except (mutagen.MutagenError, OSError, ValueError) as exc:
        info, error = None, str(exc)
    else:
        error = "no audio or video stream found"
    length = getattr(getattr(info, "info", None), "length", None)
    if isinstance(length, int | float) and length > 0:
        return replace(media, duration_s=float(length))
    if media.kind == "video" and media.mime_type not in (
        "video/mp4",
        "video/mov",
        "video/3gpp",
    ):
        return media  # mutagen reads MP4-family containers only; see UNKNOWN_VIDEO_BYTES_PER_S
    raise RowInvalid(
        f"media {media.ref_path!r}: cannot read the duration of this {media.mime_type} file ({error}); "
        "it may be damaged"
    )


def _with_pages(media: MediaFile) -> MediaFile:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        with media_source(media.path) as source:
            pages = len(PdfReader(source, strict=False).pages)
    except (PyPdfError, OSError, ValueError, KeyError) as exc:
        raise RowInvalid(f"media {media.ref_path!r}: a damaged PDF ({exc})") from None
    if pages < 1:
        raise RowInvalid(f"media {media.ref_path!r}: the PDF has no pages")
    return replace(media, pages=pages)
