"""Write the small, real media files under `sample_data/media/` and the `sample_data/mixed.jsonl` rows.

Run from the repository root: `python scripts/make_sample_media.py [--out sample_data]`. The output is
deterministic (same bytes on every run with the same Pillow), so the files are committed and regenerating
them shows no diff. No ffmpeg and no audio encoder are needed:

- images: PNG, JPEG and WebP drawn with Pillow;
- audio: a WAV (one second of a 440 Hz sine, `wave` module) and an AIFF (half a second, written by hand:
  `aifc` is deprecated). MP3/OGG/FLAC are left out: there is no encoder in the Python standard library
  or in our dependencies;
- video: an MP4 whose one track is Motion JPEG (ISO/IEC 14496-1 object type 0x6C), boxes written by hand
  below; mutagen reads its duration from `mvhd` and puremagic sniffs it as video/mp4;
- PDF: two pages of text rendered by Pillow and saved as a PDF;
- text: a .txt, a .csv and a .json.

Everything together stays well under 200 KB.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import struct
import wave
from pathlib import Path

from PIL import Image, ImageDraw

SAMPLE_RATE = 8_000


def png_square() -> bytes:
    image = Image.new("RGB", (64, 64), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 40, 40), fill=(200, 30, 30))
    draw.ellipse((28, 28, 58, 58), fill=(30, 90, 200))
    return _save(image, "PNG", optimize=True)


def jpeg_gradient() -> bytes:
    image = Image.new("RGB", (96, 64))
    image.putdata([(x * 2, y * 3, 120) for y in range(64) for x in range(96)])
    ImageDraw.Draw(image).text((6, 24), "sample", fill=(255, 255, 255))
    return _save(image, "JPEG", quality=70)


def webp_chart() -> bytes:
    image = Image.new("RGB", (80, 60), "white")
    draw = ImageDraw.Draw(image)
    for i, height in enumerate((20, 35, 50, 28, 42)):
        draw.rectangle(
            (6 + i * 14, 56 - height, 16 + i * 14, 56), fill=(40, 120 + i * 20, 60)
        )
    return _save(image, "WEBP", quality=60, method=6)


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _tone(seconds: float, hz: float = 440.0) -> bytes:
    """16-bit signed samples of a sine, little-endian."""
    count = int(SAMPLE_RATE * seconds)
    return b"".join(
        struct.pack("<h", int(12_000 * math.sin(2 * math.pi * hz * i / SAMPLE_RATE)))
        for i in range(count)
    )


def wav_tone() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(_tone(1.0))
    return buffer.getvalue()


def aiff_tone() -> bytes:
    """An AIFF: FORM/AIFF with a COMM chunk (80-bit float sample rate) and a big-endian SSND chunk."""
    little = _tone(0.5, hz=660.0)
    samples = b"".join(
        little[i + 1 : i + 2] + little[i : i + 1] for i in range(0, len(little), 2)
    )
    frames = len(samples) // 2
    comm = struct.pack(">hIh", 1, frames, 16) + _extended(SAMPLE_RATE)
    ssnd = struct.pack(">II", 0, 0) + samples
    body = b"AIFF" + _chunk(b"COMM", comm) + _chunk(b"SSND", ssnd)
    return _chunk(b"FORM", body)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack(">I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _extended(value: int) -> bytes:
    """An integer as an IEEE 754 80-bit extended float, as AIFF stores its sample rate."""
    exponent = value.bit_length() - 1
    mantissa = value << (63 - exponent)
    return struct.pack(">HQ", 16383 + exponent, mantissa)


# -- MP4 (ISO base media file format), Motion JPEG video track --------------------------------------------


def _box(kind: bytes, *payload: bytes) -> bytes:
    data = b"".join(payload)
    return struct.pack(">I", 8 + len(data)) + kind + data


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def mp4_clip(frames: int = 4, fps: int = 2, size: tuple[int, int] = (64, 48)) -> bytes:
    """A `frames / fps` second MP4: ftyp, mdat (JPEG frames), moov with one Motion JPEG track."""
    width, height = size
    jpegs = []
    for i in range(frames):
        image = Image.new("RGB", size, (30 + 50 * i, 80, 160 - 30 * i))
        ImageDraw.Draw(image).text((4, 16), f"frame {i + 1}", fill=(255, 255, 255))
        jpegs.append(_save(image, "JPEG", quality=60))
    timescale, duration = 1000, frames * 1000 // fps
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 512), b"isom", b"iso2", b"mp41")
    mdat = _box(b"mdat", *jpegs)
    first_sample = len(ftyp) + 8
    mvhd = _full_box(
        b"mvhd", 0, 0,
        struct.pack(">IIII", 0, 0, timescale, duration),
        struct.pack(">IH", 0x10000, 0x100), bytes(10), _MATRIX, bytes(24), struct.pack(">I", 2),
    )  # fmt: skip
    tkhd = _full_box(
        b"tkhd", 0, 3,
        struct.pack(">IIII", 0, 0, 1, 0), struct.pack(">I", duration), bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0), _MATRIX, struct.pack(">II", width << 16, height << 16),
    )  # fmt: skip
    mdhd = _full_box(
        b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, 0x55C4, 0)
    )
    hdlr = _full_box(
        b"hdlr", 0, 0, struct.pack(">I", 0), b"vide", bytes(12), b"VideoHandler\0"
    )
    vmhd = _full_box(b"vmhd", 0, 1, bytes(8))
    dinf = _box(
        b"dinf",
        _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)),
    )
    # ES descriptor: ES_ID 1, decoder config with objectTypeIndication 0x6C (JPEG), streamType visual.
    decoder = bytes([0x04, 13, 0x6C, 0x11]) + bytes(3) + struct.pack(">II", 0, 0)
    es = (
        bytes([0x03, 3 + len(decoder) + 3])
        + struct.pack(">HB", 1, 0)
        + decoder
        + bytes([0x06, 1, 0x02])
    )
    esds = _full_box(b"esds", 0, 0, es)
    mp4v = _box(
        b"mp4v",
        bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HH", width, height),
        struct.pack(">II", 0x480000, 0x480000), bytes(4), struct.pack(">H", 1), bytes(32),
        struct.pack(">Hh", 0x18, -1), esds,
    )  # fmt: skip
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), mp4v),
        _full_box(b"stts", 0, 0, struct.pack(">III", 1, frames, timescale // fps)),
        _full_box(b"stss", 0, 0, struct.pack(">I", frames), *(struct.pack(">I", i + 1) for i in range(frames))),
        _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, frames, 1)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, frames), *(struct.pack(">I", len(j)) for j in jpegs)),
        _full_box(b"stco", 0, 0, struct.pack(">II", 1, first_sample)),
    )  # fmt: skip
    minf = _box(b"minf", vmhd, dinf, stbl)
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    return ftyp + mdat + _box(b"moov", mvhd, trak)


def pdf_report() -> bytes:
    """Two pages of text; Pillow renders them as images, so the PDF is real but has no text layer."""
    pages = []
    for number, lines in enumerate((_PAGE_ONE, _PAGE_TWO), start=1):
        page = Image.new("L", (212, 300), 255)
        draw = ImageDraw.Draw(page)
        for i, line in enumerate(lines):
            draw.text((14, 16 + 16 * i), line, fill=0)
        draw.text((100, 282), str(number), fill=0)
        pages.append(page)
    buffer = io.BytesIO()
    pages[0].save(
        buffer, "PDF", save_all=True, append_images=pages[1:], resolution=72.0
    )
    # Pillow stamps the current time into the PDF's metadata; pin it so the file is reproducible.
    return _pin_pdf_dates(buffer.getvalue())


def _pin_pdf_dates(data: bytes) -> bytes:
    import re

    return re.sub(rb"\(D:\d{14}Z?\)", b"(D:20260101000000Z)", data)


_PAGE_ONE = (
    "Quarterly report",
    "",
    "Revenue rose 12 percent.",
    "Costs were flat.",
    "Headcount: 41.",
)
_PAGE_TWO = (
    "Outlook",
    "",
    "Demand stays strong.",
    "Risks: supply delays.",
    "Next review: Q4.",
)

TEXTS = {
    "text/notes.txt": "Meeting notes\n\n- Ship the batch runner.\n- Review the media limits.\n- Plan Q4.\n",
    "text/prices.csv": "item,price_usd\napple,0.40\nbread,2.10\ncoffee,7.99\n",
    "text/config.json": json.dumps(
        {"name": "demo", "retries": 3, "tags": ["a", "b"]}, indent=2
    )
    + "\n",
}


def media_files() -> dict[str, bytes]:
    """Every sample file, by path relative to `sample_data/media/`."""
    files = {
        "images/square.png": png_square(),
        "images/gradient.jpg": jpeg_gradient(),
        "images/chart.webp": webp_chart(),
        "audio/tone.wav": wav_tone(),
        "audio/tone.aiff": aiff_tone(),
        "video/clip.mp4": mp4_clip(),
        "docs/report.pdf": pdf_report(),
    }
    files.update({path: text.encode() for path, text in TEXTS.items()})
    return files


# Rows for sample_data/mixed.jsonl: (id, prompt, media). Mixed freely, as rows in a real job are.
ROWS: tuple[tuple[str, str, tuple[str | dict[str, str], ...]], ...] = (
    ("img-01", "Describe the shapes and colours in this image.", ("images/square.png",)),
    ("img-02", "What does this gradient image say?", ("images/gradient.jpg",)),
    ("img-03", "Read the bar heights of this chart from left to right.", ("images/chart.webp",)),
    ("img-04", "Compare these two images.", ("images/square.png", "images/gradient.jpg")),
    ("img-05", "Which image is a chart?", ("images/square.png", "images/chart.webp", "images/gradient.jpg")),
    ("aud-01", "Describe this sound: pitch, length, loudness.", ("audio/tone.wav",)),
    ("aud-02", "Are these two tones the same pitch?", ("audio/tone.wav", "audio/tone.aiff")),
    ("aud-03", "Transcribe any speech in this recording.", ({"path": "audio/tone.aiff", "mime_type": "audio/aiff"},)),
    ("vid-01", "Summarise what happens in this video.", ("video/clip.mp4",)),
    ("vid-02", "How many distinct frames does this clip show?", ({"path": "video/clip.mp4", "mime_type": "video/mp4"},)),
    ("pdf-01", "Summarise this report in three bullet points.", ("docs/report.pdf",)),
    ("pdf-02", "What is the outlook on page 2?", ({"path": "docs/report.pdf", "mime_type": "application/pdf"},)),
    ("txt-01", "Turn these notes into a to-do list.", ("text/notes.txt",)),
    ("txt-02", "Which item in this price list is the most expensive?", ("text/prices.csv",)),
    ("txt-03", "Explain this configuration file.", ("text/config.json",)),
    ("mix-01", "Does the chart match the report?", ("images/chart.webp", "docs/report.pdf")),
    ("mix-02", "Describe the video and the sound together.", ("video/clip.mp4", "audio/tone.wav")),
    ("mix-03", "Is the price list consistent with the notes?", ("text/prices.csv", "text/notes.txt")),
    ("mix-04", "Give one sentence about each attachment.",
     ("images/square.png", "audio/tone.wav", "video/clip.mp4", "docs/report.pdf", "text/notes.txt")),
    ("plain-01", "Write a haiku about batch jobs.", ()),
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_data"
    )
    out: Path = parser.parse_args().out
    total = 0
    for relative, data in media_files().items():
        target = out / "media" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        total += len(data)
        print(f"{len(data):>8,}  media/{relative}")
    lines = [
        json.dumps({"id": row_id, "prompt": prompt, "media": list(media)})
        for row_id, prompt, media in ROWS
    ]
    (out / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    print(f"{total:>8,}  bytes of media; {len(ROWS)} rows in {out / 'mixed.jsonl'}")


if __name__ == "__main__":
    main()
