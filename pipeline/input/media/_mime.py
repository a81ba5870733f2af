"""MIME types from a file's content: sniffing with puremagic, the API's names for types, and text files.

The content decides; a file's extension only breaks ties between equally good matches (and names the
subtype of a text file, which has no magic number). Sniffers and users call some types by other names
(`audio/x-wav`, `video/quicktime`); `canonical_mime` maps them to the names the Gemini API uses.
"""

from __future__ import annotations

import codecs
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import puremagic

from pipeline.storage import Location

from ._limits import (
    ALL_TYPES,
    AUDIO_TYPES,
    IMAGE_TYPES,
    PDF_TYPES,
    TEXT_TYPES,
    VIDEO_TYPES,
)

MediaKind = Literal["image", "audio", "video", "pdf", "text"]

# Names that sniffers and users give to the types the API knows by another name.
_ALIASES = {
    "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/heic-sequence": "image/heic",
    "image/heif-sequence": "image/heif",
    "audio/wave": "audio/wav", "audio/x-wav": "audio/wav", "audio/vnd.wave": "audio/wav",
    "audio/mpeg": "audio/mp3", "audio/mpeg3": "audio/mp3", "audio/x-mp3": "audio/mp3", "audio/x-mpeg": "audio/mp3",
    "audio/x-aiff": "audio/aiff", "audio/aif": "audio/aiff", "audio/x-aac": "audio/aac", "audio/aacp": "audio/aac",
    "application/ogg": "audio/ogg", "audio/x-ogg": "audio/ogg", "audio/vorbis": "audio/ogg",
    "audio/x-flac": "audio/flac",
    "video/quicktime": "video/mov", "video/x-msvideo": "video/avi", "video/msvideo": "video/avi",
    "video/x-ms-wmv": "video/wmv", "video/x-ms-asf": "video/wmv", "video/flv": "video/x-flv", "video/3gp": "video/3gpp",
    "video/mpeg2": "video/mpeg", "application/xml": "text/xml", "application/rtf": "text/rtf",
    "application/javascript": "text/javascript", "application/x-javascript": "text/javascript",
    "text/x-csv": "text/csv", "text/json": "application/json",
}  # fmt: skip
# Sniffer results that carry only an extension.
_BY_EXTENSION = {
    ".oga": "audio/ogg",
    ".ogg": "audio/ogg",
    ".m4a": "audio/aac",
    ".aif": "audio/aiff",
}
# Text files have no magic number: once the content is known to be text, the extension names the type.
_TEXT_EXTENSIONS = {
    ".csv": "text/csv", ".json": "application/json", ".html": "text/html", ".htm": "text/html",
    ".css": "text/css", ".xml": "text/xml", ".rtf": "text/rtf", ".js": "text/javascript",
}  # fmt: skip


def canonical_mime(mime_type: str) -> str:
    """`audio/x-wav` -> `audio/wav`: one name per type, the one the API uses."""
    base = mime_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def kind_of(mime_type: str) -> MediaKind | None:
    for kind, types in (
        ("image", IMAGE_TYPES), ("audio", AUDIO_TYPES), ("video", VIDEO_TYPES), ("pdf", PDF_TYPES),
        ("text", TEXT_TYPES),
    ):  # fmt: skip
        if mime_type in types:
            return kind  # type: ignore[return-value]
    return None


MediaPath = Path | Location
"""A media file: a local path, or an object in a bucket (read by byte ranges)."""


@contextlib.contextmanager
def media_source(path: MediaPath) -> Iterator[Path | IO[bytes]]:
    """What a reader library opens: the local path itself, or a seekable stream of the remote object."""
    if isinstance(path, Path):
        yield path
        return
    with path.open_input() as stream:
        yield stream


def open_media(path: MediaPath) -> IO[bytes]:
    """The file's bytes, streamed (a local file, or ranged reads of a remote object)."""
    return path.open("rb") if isinstance(path, Path) else path.open_input()


def _magic(path: MediaPath) -> list[Any]:
    if isinstance(path, Path):
        return list(puremagic.magic_file(path))
    with path.open_input() as stream:
        return list(puremagic.magic_stream(stream, filename=path.name))


def detect_mime(
    path: MediaPath, *, supported: frozenset[str] = ALL_TYPES
) -> str | None:
    """The canonical MIME type of the file's content, or None when the content matches no known type.

    Only matches backed by the content count; the extension reorders equally good matches. Among them the
    first that is `supported` wins, else the first at all (so the caller can name what the file is).
    """
    try:
        matches = _magic(path)
    except (puremagic.PureError, ValueError):  # ValueError: an empty file
        matches = []
    found: list[str] = []
    for match in matches:
        if not match.byte_match:
            continue  # a guess from the extension alone
        mime = (
            canonical_mime(match.mime_type)
            if match.mime_type
            else _BY_EXTENSION.get(match.extension, "")
        )
        if mime and mime not in found:
            found.append(mime)
    for mime in found:
        if mime in supported:
            return mime
    if found and not found[0].startswith("text/"):
        return found[0]
    if _looks_like_text(path):
        return _TEXT_EXTENSIONS.get(
            path.suffix.lower(), found[0] if found else "text/plain"
        )
    return found[0] if found else None


def _looks_like_text(path: MediaPath) -> bool:
    """UTF-8 (or ASCII) without NUL bytes in the first 64 KiB."""
    with open_media(path) as handle:
        head = handle.read(65_536)
    if not head or b"\0" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def agrees(declared: str, detected: str, path: MediaPath) -> bool:
    """Whether a row's declared (canonical) type fits the file at `path`, whose content is `detected`."""
    if declared == detected:
        return True
    if kind_of(detected) == "text" and (
        kind_of(declared) == "text" or declared.startswith("text/")
    ):
        # Text has no magic number: trust the row about csv vs plain (an unsupported subtype such as
        # text/markdown is sent as the detected one).
        return True
    # A file can match several types (a 3GP is also an MP4): any match backed by the content will do.
    try:
        matches = _magic(path)
    except (puremagic.PureError, ValueError):
        return False
    return any(
        match.byte_match and canonical_mime(match.mime_type) == declared
        for match in matches
    )
