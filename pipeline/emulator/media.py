"""Inline and uploaded media: supported MIME types, content sniffing and token counts.

Token rules (documented in docs/emulator.md; the client estimates the same way):
text ceil(chars / 4) per part; images 1,120 each (560 at MEDIA_RESOLUTION_MEDIUM, 280 at LOW);
PDF 560 per page; audio 32 per second; video 70 per second (one frame per second) plus 32 per
second of audio; text/* documents as text. Durations come from mutagen (or the WAV header); when
a duration cannot be read it is estimated from the size (audio 16 kB/s, video 250 kB/s).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import wave
from dataclasses import dataclass
from typing import BinaryIO

__all__ = (
    "MAX_INLINE_PDF_BYTES",
    "MAX_REQUEST_BYTES",
    "MediaError",
    "MediaInfo",
    "analyse",
    "decode_base64",
    "kind_of",
    "sniff_ok",
)

IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}
)
AUDIO_TYPES = frozenset(
    {"audio/wav", "audio/x-wav", "audio/wave", "audio/mp3", "audio/mpeg", "audio/aiff", "audio/x-aiff", "audio/aac",
     "audio/ogg", "audio/flac", "audio/x-flac"}
)  # fmt: skip
VIDEO_TYPES = frozenset(
    {"video/mp4", "video/mpeg", "video/mov", "video/quicktime", "video/avi", "video/x-msvideo", "video/x-flv",
     "video/mpg", "video/webm", "video/wmv", "video/x-ms-wmv", "video/3gpp"}
)  # fmt: skip
DOC_TYPES = frozenset(
    {
        "application/pdf",
        "application/json",
        "application/xml",
        "application/x-javascript",
    }
)
MAX_REQUEST_BYTES = 100 * 1024 * 1024
MAX_INLINE_PDF_BYTES = 50 * 1024 * 1024
IMAGE_TOKENS = {"MEDIA_RESOLUTION_LOW": 280, "MEDIA_RESOLUTION_MEDIUM": 560}
_ALT = bytes.maketrans(b"-_", b"+/")


class MediaError(ValueError):
    """Media the service would refuse; the message is the 400 text."""


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What the token count of one media part depends on."""

    kind: str  # IMAGE | AUDIO | VIDEO | DOCUMENT | TEXT
    amount: float = 0.0  # pages (DOCUMENT), seconds (AUDIO, VIDEO), characters (TEXT)

    def tokens(self, resolution: str | None) -> dict[str, int]:
        """Tokens by modality for this part at the given media resolution."""
        if self.kind == "IMAGE":
            return {"IMAGE": IMAGE_TOKENS.get(resolution or "", 1120)}
        if self.kind == "DOCUMENT":
            return {"DOCUMENT": int(self.amount) * 560}
        if self.kind == "AUDIO":
            return {"AUDIO": math.ceil(self.amount * 32)}
        if self.kind == "VIDEO":
            seconds = math.ceil(self.amount)
            return {"VIDEO": seconds * 70, "AUDIO": seconds * 32}
        return {"TEXT": math.ceil(self.amount / 4)}


def decode_base64(data: str) -> bytes:
    """Standard or URL-safe base64, padded or not (the SDK sends URL-safe, curl users standard)."""
    raw = data.encode("ascii", "strict") if data.isascii() else b"!"
    raw = raw.translate(_ALT)
    raw += b"=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError("Base64 decoding failed") from None


def kind_of(mime: str) -> str | None:
    """The modality of a supported MIME type, or None when the service does not take it."""
    if mime in IMAGE_TYPES:
        return "IMAGE"
    if mime in AUDIO_TYPES:
        return "AUDIO"
    if mime in VIDEO_TYPES:
        return "VIDEO"
    if mime == "application/pdf":
        return "DOCUMENT"
    if mime.startswith("text/") or mime in DOC_TYPES:
        return "TEXT"
    return None


def sniff_ok(mime: str, head: bytes) -> bool:
    """Whether the first bytes look like `mime` (cheap magic-number checks, no libmagic)."""
    kind = kind_of(mime)
    if mime == "image/png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if mime == "image/jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if mime == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if mime in ("image/heic", "image/heif"):
        return head[4:8] == b"ftyp"
    if mime in ("audio/wav", "audio/x-wav", "audio/wave"):
        return head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    if mime in ("audio/mp3", "audio/mpeg"):
        return head.startswith(b"ID3") or (
            len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
        )
    if mime in ("audio/aiff", "audio/x-aiff"):
        return head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC")
    if mime == "audio/aac":
        return (
            (len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0)
            or head.startswith(b"ADIF")
            or head[4:8] == b"ftyp"
        )
    if mime == "audio/ogg":
        return head.startswith(b"OggS")
    if mime in ("audio/flac", "audio/x-flac"):
        return head.startswith((b"fLaC", b"ID3"))
    if mime == "video/webm":
        return head.startswith(b"\x1a\x45\xdf\xa3")
    if mime in ("video/avi", "video/x-msvideo"):
        return head[:4] == b"RIFF" and head[8:11] == b"AVI"
    if mime in ("video/mpeg", "video/mpg"):
        return (
            head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")
            or head[:1] == b"\x47"
        )
    if mime == "video/x-flv":
        return head.startswith(b"FLV")
    if mime in ("video/wmv", "video/x-ms-wmv"):
        return head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")
    if kind == "VIDEO":  # mp4, mov, 3gpp: an ISO base media box first
        return head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")
    if mime == "application/pdf":
        return b"%PDF-" in head[:1024]
    if kind == "TEXT":
        if b"\x00" in head:
            return False
        try:
            head.decode("utf-8")
        except (
            UnicodeDecodeError
        ) as exc:  # a cut multi-byte character at the end is fine
            return exc.start >= len(head) - 3
        return True
    return False


def analyse(mime: str, source: bytes | str, size: int) -> MediaInfo:
    """Measure pages, seconds or characters of `source` (bytes, or a file path); raises MediaError."""
    kind = kind_of(mime)
    if kind is None:
        raise MediaError(f"Unsupported MIME type: {mime}")
    if kind == "IMAGE":
        return MediaInfo("IMAGE")
    if kind == "DOCUMENT":
        return MediaInfo("DOCUMENT", _pdf_pages(source))
    if kind == "TEXT":
        return MediaInfo("TEXT", _characters(source))
    seconds = _duration(mime, source)
    if seconds is None:
        seconds = size / (16_000 if kind == "AUDIO" else 250_000)
    return MediaInfo(kind, seconds)


def _characters(source: bytes | str) -> int:
    if isinstance(source, bytes):
        return len(source.decode("utf-8", "replace"))
    count = 0
    with open(
        source, encoding="utf-8", errors="replace"
    ) as fh:  # in pieces: a text file may be huge
        while piece := fh.read(1 << 20):
            count += len(piece)
    return count


def _open(source: bytes | str) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


def _pdf_pages(source: bytes | str) -> int:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        with _open(source) as fh:
            pages = len(PdfReader(fh).pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError):
        raise MediaError("The document has no pages.") from None
    if pages == 0:
        raise MediaError("The document has no pages.")
    return pages


def _duration(mime: str, source: bytes | str) -> float | None:
    if mime in ("audio/wav", "audio/x-wav", "audio/wave"):
        try:
            with _open(source) as fh, wave.open(fh, "rb") as w:
                return w.getnframes() / float(w.getframerate() or 1)
        except (wave.Error, EOFError, OSError):
            pass
    try:
        import mutagen

        with _open(source) as fh:
            found = mutagen.File(fh)
        length = getattr(getattr(found, "info", None), "length", None)
        return float(length) if length else None
    except Exception:  # noqa: BLE001 - mutagen raises many kinds on odd input; the size estimate covers it
        return None
