"""The sink's file operations that need no Arrow: generated images, and the crash-safe directory swap.

Everything here writes to a temporary name, fsyncs, then renames, so a crash (or a power cut) never leaves a
partial file under its final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
from pathlib import Path

from pipeline.errors import OutputError
from pipeline.records import GeneratedImage, ImageFile

IMAGES_DIR = "images"
_IMAGE_EXT = {
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/avif": "avif",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def image_name(row_id: str, index: int, mime_type: str) -> str:
    """A file name for a row's image that is safe whatever the id: no separators, no `..`, bounded length,
    and distinct for distinct ids (a hash of the raw id is appended). Images after the first get `-<index>`."""
    safe = _UNSAFE.sub("_", row_id)[:80].lstrip(".-") or "row"
    digest = hashlib.sha256(row_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    suffix = f"-{index}" if index else ""
    return f"{safe}-{digest}{suffix}.{image_extension(mime_type)}"


def image_extension(mime_type: str) -> str:
    """ "image/jpeg" -> "jpg"; parameters (`; charset=binary`) and case are ignored; an unknown type -> "bin"."""
    return _IMAGE_EXT.get(mime_type.split(";", 1)[0].strip().lower(), "bin")


def write_image(
    run_dir: Path, row_id: str, index: int, image: GeneratedImage
) -> ImageFile:
    """Write one generated image under DIR/images/ (temp name, fsync, rename: never a partial file under its
    final name) and describe it for the `images` column. Raises `OutputError` when it cannot be written."""
    folder = Path(run_dir) / IMAGES_DIR
    name = image_name(row_id, index, image.mime_type)
    tmp = folder / f".tmp-{secrets.token_hex(6)}-{name}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as file:
            file.write(image.data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, folder / name)
        fsync_dir(folder)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(
            f"{folder / name}: cannot write the image: {exc.strerror or exc}"
        ) from exc
    digest = hashlib.sha256(image.data).hexdigest()
    return ImageFile(f"{IMAGES_DIR}/{name}", image.mime_type, digest, len(image.data))


def remove_image_leftovers(run_dir: Path) -> int:
    """Delete the DIR/images/.tmp-* files of writes that a crash cut short (never a finished image: those have
    their final name); returns how many. Safe only while holding DIR's lock, before any image is written."""
    removed = 0
    for path in (Path(run_dir) / IMAGES_DIR).glob(".tmp-*"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


def remove_leftovers(run_dir: Path, name: str) -> None:
    """`name`.tmp-* and `name`.old-* left by a swap that crashed half-way; safe to delete: we hold DIR's lock."""
    for pattern in (f"{name}.tmp-*", f"{name}.old-*"):
        for path in run_dir.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


def new_temp_dir(run_dir: Path, name: str) -> Path:
    """A fresh, empty DIR/`name`.tmp-<random>/ to build a replacement for DIR/`name`/ in."""
    path = run_dir / f"{name}.tmp-{secrets.token_hex(6)}"
    path.mkdir(parents=True)
    return path


def swap_in(run_dir: Path, new: Path, name: str) -> None:
    """Make the directory `new` (complete, fsync'd) become DIR/`name`, replacing what was there."""
    final = run_dir / name
    old: Path | None = None
    if final.exists() or final.is_symlink():
        old = run_dir / f"{name}.old-{secrets.token_hex(6)}"
        os.rename(final, old)
    os.rename(new, final)
    fsync_dir(run_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse fsync on a directory
        fsync_file(path)
