"""Real, decodable JPEG images of the requested size, cheap enough to serve at load.

An image is a flat colour from a small palette (picked by the request hash) with a band and a
frame drawn on it. Encoded images are cached by (size, colour), so a 4K image is encoded once per
colour, not once per request.
"""

from __future__ import annotations

import io
import threading
from functools import lru_cache

_PALETTE = (
    (66, 133, 244),
    (219, 68, 55),
    (244, 180, 0),
    (15, 157, 88),
    (171, 71, 188),
    (0, 172, 193),
    (255, 112, 67),
    (158, 157, 36),
)
_lock = (
    threading.Lock()
)  # Pillow encodes with the GIL released; the cache itself is not thread-safe


def jpeg(width: int, height: int, colour_index: int) -> bytes:
    """A JPEG of width x height in palette colour `colour_index` (any int; taken modulo the palette)."""
    with _lock:
        return _encode(width, height, colour_index % len(_PALETTE))


@lru_cache(maxsize=64)
def _encode(width: int, height: int, colour: int) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), _PALETTE[colour])
    draw = ImageDraw.Draw(image)
    accent = _PALETTE[(colour + 3) % len(_PALETTE)]
    band = max(1, height // 8)
    draw.rectangle(
        (0, height // 2 - band // 2, width, height // 2 + band // 2), fill=accent
    )
    edge = max(2, min(width, height) // 64)
    draw.rectangle(
        (edge, edge, width - edge - 1, height - edge - 1),
        outline=(255, 255, 255),
        width=edge,
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()
