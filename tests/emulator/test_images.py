"""The emulator's generated JPEGs: real, decodable, the requested size, deterministic, realistic in weight."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pipeline.emulator import images


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_jpeg_of_the_requested_size() -> None:
    data = images.jpeg(1376, 768, 5)
    assert data.startswith(b"\xff\xd8\xff")
    image = _decoded(data)
    assert (image.format, image.size, image.mode) == ("JPEG", (1376, 768), "RGB")


def test_the_same_arguments_give_the_same_bytes_and_colours_differ() -> None:
    first = images.jpeg(320, 200, 3)
    # colours are taken modulo the palette, and cached
    assert images.jpeg(320, 200, 3 + 8) is first
    assert images.jpeg(320, 200, 4) != first
    images._cache.clear()
    # re-encoded: the grain is seeded, not random
    assert images.jpeg(320, 200, 3) == first


def test_a_4k_image_weighs_several_megabytes_like_a_real_one() -> None:
    data = images.jpeg(5504, 3072, 1)
    assert 2_000_000 < len(data) < 8_000_000
    assert _decoded(data).size == (5504, 3072)


def test_the_cache_keeps_to_its_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "_cache", type(images._cache)())
    monkeypatch.setattr(images, "_cached_bytes", 0)
    one = len(images.jpeg(256, 256, 0))
    monkeypatch.setattr(images, "_CACHE_BYTES", one * 2)
    for colour in range(1, 6):
        images.jpeg(256, 256, colour)
    assert images._cached_bytes <= one * 2.5
    assert 1 <= len(images._cache) <= 3
    assert (256, 256, 5) in images._cache  # the newest stays
