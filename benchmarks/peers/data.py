"""The rows every tool gets (same ids, same prompts) and the JPEGs of the image scenario.

A prompt starts with its row's id, so the emulator's ledger, which keeps the first 80 characters of each distinct
request body's last user text, tells which row a request was for (`row_id`).
"""

from __future__ import annotations

import json
import random
import re
from io import BytesIO
from pathlib import Path

IMAGES = 20  # distinct JPEGs, shared round-robin by the image rows
_ID = re.compile(r"^(row-\d{7}):")


def row_id(i: int) -> str:
    return f"row-{i:07d}"


def prompt_for(i: int, directive: str = "") -> str:
    text = f"{row_id(i)}: Summarise record {i} of the quarterly report in one sentence: revenue, costs and outlook."
    return f"{text} {directive}" if directive else text


def id_of(excerpt: str) -> str | None:
    """The row id a ledger excerpt belongs to, or None (e.g. a tool's own probe request)."""
    found = _ID.match(excerpt)
    return found.group(1) if found else None


def write_rows(
    path: Path,
    count: int,
    *,
    directive: str = "",
    every: int = 0,
    images: bool = False,
) -> Path:
    """`count` rows `{"id", "prompt"[, "media"]}`; every `every`-th row (from the 50th of each hundred, so
    that 1% lands mid-run rather than first) carries `directive`. Written in chunks, never all in memory."""
    offset = every // 2 if every > 1 else 0
    with path.open("w", encoding="utf-8") as out:
        chunk: list[str] = []
        for i in range(count):
            marked = every > 0 and (i - offset) % every == 0 and i >= offset
            row: dict[str, object] = {
                "id": row_id(i),
                "prompt": prompt_for(i, directive if marked else ""),
            }
            if images:
                row["media"] = [image_name(i % IMAGES)]
            chunk.append(json.dumps(row))
            if len(chunk) == 10_000:
                out.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            out.write("\n".join(chunk) + "\n")
    return path


def image_name(i: int) -> str:
    return f"photo-{i:02d}.jpg"


def write_images(directory: Path, side: int = 560) -> Path:
    """`IMAGES` noisy JPEGs of about 300 kB each (noise does not compress, like a photo's detail)."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    for i in range(IMAGES):
        path = directory / image_name(i)
        if path.exists():
            continue
        pixels = bytes(rng.getrandbits(8) for _ in range(side * side * 3))
        image = Image.frombytes("RGB", (side, side), pixels)
        buffer = BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        path.write_bytes(buffer.getvalue())
    return directory
