"""A row's media -> request parts: MIME sniffing, probing, limits, inline or uploaded; the parts go into the
row's prompt (`pipeline.input.build_prompt`). It imports nothing else from `input`."""

from __future__ import annotations

from ._parts import (
    MediaContext,
    MediaFile,
    MediaPlanner,
    build_media_parts,
    media_context,
    media_limits,
    probe_row,
)
from ._probe import AUDIO_TOKENS_PER_S, UNKNOWN_VIDEO_BYTES_PER_S

__all__ = (
    "AUDIO_TOKENS_PER_S",
    "UNKNOWN_VIDEO_BYTES_PER_S",
    "MediaContext",
    "MediaFile",
    "MediaPlanner",
    "build_media_parts",
    "media_context",
    "media_limits",
    "probe_row",
)
