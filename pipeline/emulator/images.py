"""Real, decodable JPEG images of the requested size, as heavy as the real ones and cheap enough to serve at load.

An image is a colour from a small palette (picked by the request hash) with a band and a frame drawn on it,
under a fine grain of deterministic noise. The grain is what makes the file realistic: a flat 4K image
compresses to about 0.3 MB, while the model's real 4K JPEGs weigh several MB (these: about 3.9 MB at
5504x3072, 0.95 MB at 2048x2048, 0.24 MB at 1024x1024), and a client's memory and throughput should be
measured against real sizes. Encoded images are cached by (size, colour) within a byte budget, so a 4K image
is encoded once per colour (about half a second), not once per request.
"""

from __future__ import annotations

import io
import random
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if (
    TYPE_CHECKING
):  # Pillow is imported on the first image: a text-only emulator never loads it
    from PIL import Image

__all__ = ("jpeg",)

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
_GRAIN_TILE = (
    256  # the noise is one seeded tile, repeated: JPEG cannot exploit the repetition
)
_GRAIN_AMPLITUDE = (
    16  # +-16 levels: visible as fine grain, several MB at 4K like a real photo
)
_QUALITY = 85
_CACHE_BYTES = 160 * 1024 * 1024  # about 30 distinct 4K images
_lock = (
    threading.Lock()
)  # the cache is shared by the server's threads; encodes are serialised with it
_cache: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
_cached_bytes = 0


def jpeg(width: int, height: int, colour_index: int) -> bytes:
    """A JPEG of width x height in palette colour `colour_index` (any int; taken modulo the palette).

    The same arguments always give the same bytes (the grain is seeded), in this process and the next.
    """
    global _cached_bytes
    key = (width, height, colour_index % len(_PALETTE))
    with _lock:
        data = _cache.get(key)
        if data is not None:
            _cache.move_to_end(key)
            return data
        data = _encode(*key)
        _cache[key] = data
        _cached_bytes += len(data)
        while _cached_bytes > _CACHE_BYTES and len(_cache) > 1:
            _, dropped = _cache.popitem(last=False)
            _cached_bytes -= len(dropped)
        return data


def _encode(width: int, height: int, colour: int) -> bytes:
    from PIL import ImageDraw

    image = _grain(width, height, _PALETTE[colour])
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
    image.save(out, "JPEG", quality=_QUALITY)
    return out.getvalue()


def _grain(width: int, height: int, colour: tuple[int, int, int]) -> Image.Image:
    """`colour` plus the seeded noise tile repeated over width x height (the band and frame stay flat)."""
    from PIL import Image, ImageChops

    noise = Image.new("L", (width, height))
    tile = _noise_tile()
    for top in range(0, height, _GRAIN_TILE):
        for left in range(0, width, _GRAIN_TILE):
            noise.paste(tile, (left, top))
    base = Image.new("RGB", (width, height), colour)
    return ImageChops.add(base, Image.merge("RGB", (noise, noise, noise)), offset=-128)


def _noise_tile() -> Image.Image:
    from PIL import Image

    raw = random.Random(0).randbytes(_GRAIN_TILE * _GRAIN_TILE)
    tile = Image.frombytes("L", (_GRAIN_TILE, _GRAIN_TILE), raw)
    # uniform 0..255 -> 128 +- _GRAIN_AMPLITUDE
    return tile.point(lambda v: 128 + (v - 128) * _GRAIN_AMPLITUDE // 128)
