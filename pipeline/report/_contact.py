"""The contact sheet of an image job: a small thumbnail of each generated image, embedded as a data URI, and
a marked tile for each row that was blocked or failed, so a person sees at a glance what came out."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

from ._data import RowPoint

__all__ = ("MAX_TILES", "contact_sheet")

MAX_TILES = 240
THUMB_PX = 112
_MARKED = ("blocked", "failed", "invalid")


def contact_sheet(run_dir: Path, rows: Sequence[RowPoint]) -> str | None:
    """The sheet's HTML, or None when no row of the run asked for or made an image."""
    if not any(row.images for row in rows):
        return None
    shown = [row for row in rows if row.images or row.status in _MARKED][:MAX_TILES]
    tiles = [_tile(run_dir, row) for row in shown]
    marked = sum(1 for row in rows if not row.images and row.status in _MARKED)
    total = sum(len(row.images) for row in rows)
    more = len([r for r in rows if r.images or r.status in _MARKED]) - len(shown)
    note = (
        f" (the first {len(shown):,} tiles; {more:,} more rows are not shown)"
        if more > 0
        else ""
    )
    return (
        f"<p>{total:,} images, {marked:,} rows blocked or failed (marked){note}.</p>\n"
        f'<div class="sheet">{"".join(tiles)}</div>'
    )


def _tile(run_dir: Path, row: RowPoint) -> str:
    label = html.escape(row.id)
    if row.images:
        uri = _thumbnail(run_dir / row.images[0])
        if uri is not None:
            extra = f" +{len(row.images) - 1}" if len(row.images) > 1 else ""
            return (
                f'<figure class="tile {row.status}" data-status="{row.status}"><img alt="{label}" '
                f'src="{uri}"><figcaption>{label}{extra}</figcaption></figure>'
            )
        reason = "image file missing"
    else:
        reason = row.error_code or row.status
    title = html.escape(row.error_message or reason)
    return (
        f'<figure class="tile marked {row.status}" data-status="{row.status}" title="{title}">'
        f'<div class="mark">{html.escape(row.status.upper())}<br><small>{html.escape(reason)}</small></div>'
        f"<figcaption>{label}</figcaption></figure>"
    )


def _thumbnail(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.thumbnail((THUMB_PX, THUMB_PX))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=70, optimize=True)
    except (OSError, UnidentifiedImageError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode(
        "ascii"
    )
