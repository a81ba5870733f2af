"""Write the small input images of the image-editing sample under `sample_data/media/edit/`.

Run from the repository root: `python scripts/make_sample_images.py [--out sample_data/media/edit]`. The
output is deterministic (the same bytes on every run with the same Pillow), so the files are committed and
regenerating them shows no diff. They are drawn with Pillow, a few KB each: enough for an image model to
edit, restyle or combine (`jobs/image-edit.toml`, rows in `sample_data/image_edits.jsonl`).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw


def room() -> bytes:
    """A simple room: wall, floor, window and a sofa; the thing the edit rows change."""
    image = Image.new("RGB", (192, 128), (232, 224, 210))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 88, 191, 127), fill=(150, 110, 80))  # floor
    draw.rectangle(
        (120, 16, 176, 60), fill=(170, 210, 240), outline=(255, 255, 255), width=3
    )
    draw.line((148, 16, 148, 60), fill=(255, 255, 255), width=2)
    draw.rounded_rectangle((20, 62, 100, 96), radius=8, fill=(70, 90, 140))  # sofa
    draw.rectangle((24, 52, 96, 70), fill=(60, 80, 130))
    return _save(image, "JPEG", quality=85)


def portrait() -> bytes:
    """A stylised head and shoulders on a plain background, portrait orientation."""
    image = Image.new("RGB", (96, 128), (200, 220, 235))
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 20, 66, 62), fill=(224, 180, 150))  # face
    draw.pieslice((14, 66, 82, 150), 180, 360, fill=(40, 120, 90))  # shoulders
    draw.arc((38, 36, 58, 54), 20, 160, fill=(120, 60, 60), width=2)  # smile
    draw.ellipse((40, 32, 44, 36), fill=(30, 30, 30))
    draw.ellipse((52, 32, 56, 36), fill=(30, 30, 30))
    return _save(image, "PNG", optimize=True)


def style_waves() -> bytes:
    """A style reference: bold coloured stripes with curves, in the manner of a woodblock print."""
    image = Image.new("RGB", (128, 128), (245, 235, 210))
    draw = ImageDraw.Draw(image)
    colours = ((20, 50, 110), (40, 100, 160), (230, 120, 40), (250, 250, 240))
    for row in range(8):
        top = row * 16
        draw.rectangle((0, top, 127, top + 7), fill=colours[row % len(colours)])
        for x in range(0, 128, 16):
            draw.arc(
                (x, top - 4, x + 16, top + 12),
                0,
                180,
                fill=colours[(row + 1) % 4],
                width=2,
            )
    return _save(image, "PNG", optimize=True)


def product() -> bytes:
    """A product shot: a mug on a white background, for background replacement."""
    image = Image.new("RGB", (128, 128), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 84, 100), fill=(200, 60, 50))
    draw.ellipse((40, 32, 84, 48), fill=(170, 40, 40))
    draw.arc((76, 52, 104, 84), 270, 90, fill=(200, 60, 50), width=6)
    draw.ellipse((34, 98, 90, 108), fill=(225, 225, 225))
    return _save(image, "WEBP", quality=80, method=6)


def logo() -> bytes:
    """A small logo to place into another image."""
    image = Image.new("RGB", (64, 64), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.regular_polygon((32, 32, 28), 6, fill=(250, 180, 30))
    draw.ellipse((20, 20, 44, 44), fill=(30, 30, 30))
    return _save(image, "PNG", optimize=True)


IMAGES: dict[str, Callable[[], bytes]] = {
    "room.jpg": room,
    "portrait.png": portrait,
    "style-waves.png": style_waves,
    "product.webp": product,
    "logo.png": logo,
}


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("sample_data/media/edit"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in IMAGES.items():
        data = draw()
        (args.out / name).write_bytes(data)
        print(f"{args.out / name}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
