"""The model table: ids, token limits, thinking levels and image support, as the reference lists them."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = (
    "MODELS",
    "OPENAI_ALIASES",
    "THINKING_LEVELS",
    "ModelInfo",
    "image_dimensions",
    "lookup",
)

THINKING_LEVELS = (
    "MINIMAL",
    "LOW",
    "MEDIUM",
    "HIGH",
    "XHIGH",
)  # XHIGH: Gemini 4 Hydrogen, Neon
ASPECT_RATIOS = (
    "1:1",
    "2:3",
    "3:2",
    "3:4",
    "4:3",
    "4:5",
    "5:4",
    "9:16",
    "16:9",
    "21:9",
)
EXTRA_ASPECT_RATIOS = ("1:4", "4:1", "1:8", "8:1")  # 3.1 Flash Image only

# Google's published output sizes of the Gemini 3 image models at 1K; 2K and 4K are x2 and x4.
_SIZES_1K: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the emulator knows of one model id."""

    id: str
    display_name: str
    input_limit: int
    output_limit: int
    thinking_levels: tuple[str, ...]
    default_level: str
    can_disable_thinking: bool = False
    image_out: bool = False
    max_input_images: int | None = None
    image_sizes: tuple[str, ...] = ()
    image_tokens: tuple[tuple[str, int], ...] = ()
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    openai_alias_of: str | None = (
        None  # set on aggregator aliases: the model that answers
    )

    def image_token_count(self, size: str) -> int:
        return dict(self.image_tokens).get(size, 1120)


def _text(
    id: str,
    name: str,
    levels: tuple[str, ...],
    default: str,
    *,
    input_limit: int = 1_048_576,
    output_limit: int = 65_536,
    can_disable_thinking: bool = False,
) -> ModelInfo:
    return ModelInfo(
        id,
        name,
        input_limit,
        output_limit,
        levels,
        default,
        can_disable_thinking=can_disable_thinking,
    )


def _pro_image(id: str, name: str) -> ModelInfo:
    return ModelInfo(
        id, name, 65_536, 32_768, ("LOW", "HIGH"), "HIGH", image_out=True,
        max_input_images=14, image_sizes=("1K", "2K", "4K"),
        image_tokens=(("1K", 1120), ("2K", 1120), ("4K", 2000)),
    )  # fmt: skip


def _flash_image(
    id: str, name: str, sizes: tuple[str, ...] = ("512", "1K", "2K", "4K")
) -> ModelInfo:
    return ModelInfo(
        id, name, 131_072, 32_768, ("MINIMAL", "HIGH"), "MINIMAL", image_out=True,
        max_input_images=14, image_sizes=sizes,
        image_tokens=(("512", 747), ("1K", 1120), ("2K", 1680), ("4K", 2520)),
        aspect_ratios=ASPECT_RATIOS + EXTRA_ASPECT_RATIOS,
    )  # fmt: skip


_MINIMAL_UP = ("MINIMAL", "LOW", "MEDIUM", "HIGH")
_LOW_UP = ("LOW", "MEDIUM", "HIGH")
_GEMINI_4_XHIGH = ("LOW", "MEDIUM", "HIGH", "XHIGH")

# Every id the emulator can answer, as of late 2026 (reference 2026-12 section 1). Which of them a
# Google front door still serves on a given day, and which it routes to a newer model, is decided by
# lifecycle.py; the aggregator door (/v1/) serves every entry, retired ids included, as resellers do.
MODELS: dict[str, ModelInfo] = {
    m.id: m
    for m in (
        # Gemini 4: thinking levels; Argon and Carbon default to medium, Hydrogen and Neon to high.
        _text("gemini-4-argon", "Gemini 4 Argon", _LOW_UP, "MEDIUM"),
        _text("gemini-4-carbon", "Gemini 4 Carbon", _LOW_UP, "MEDIUM"),
        _text("gemini-4-hydrogen", "Gemini 4 Hydrogen", _GEMINI_4_XHIGH, "HIGH"),
        _text("gemini-4-neon", "Gemini 4 Neon", _GEMINI_4_XHIGH, "HIGH"),
        # Gemini 3.x text models.
        _text("gemini-3.8-flash", "Gemini 3.8 Flash", _LOW_UP, "MEDIUM"),
        _text("gemini-3.7-flash", "Gemini 3.7 Flash", _LOW_UP, "MEDIUM"),
        _text("gemini-3.6-flash", "Gemini 3.6 Flash", _MINIMAL_UP, "MEDIUM"),
        _text("gemini-3.5-flash", "Gemini 3.5 Flash", _MINIMAL_UP, "MEDIUM"),
        _text("gemini-3.5-flash-lite", "Gemini 3.5 Flash-Lite", _MINIMAL_UP, "MINIMAL"),
        _text("gemini-3.1-flash-lite", "Gemini 3.1 Flash-Lite", _MINIMAL_UP, "MINIMAL"),
        _text("gemini-3.1-pro-preview", "Gemini 3.1 Pro Preview", _LOW_UP, "HIGH"),
        _text("gemini-3-flash-preview", "Gemini 3 Flash Preview", _MINIMAL_UP, "HIGH"),
        _text(
            "gemini-3.1-flash-lite-preview",
            "Gemini 3.1 Flash-Lite Preview",
            _MINIMAL_UP,
            "MINIMAL",
        ),
        # Gemini 2.5: thinking by budget only (no levels); Flash and Flash-Lite can turn it off.
        _text("gemini-2.5-pro", "Gemini 2.5 Pro", (), "MEDIUM"),
        _text(
            "gemini-2.5-flash",
            "Gemini 2.5 Flash",
            (),
            "MEDIUM",
            can_disable_thinking=True,
        ),
        _text(
            "gemini-2.5-flash-lite",
            "Gemini 2.5 Flash-Lite",
            (),
            "MINIMAL",
            can_disable_thinking=True,
        ),
        # Image models (Nano Banana).
        _pro_image("gemini-3-pro-image", "Nano Banana Pro"),
        _pro_image("gemini-3-pro-image-preview", "Nano Banana Pro (preview)"),
        _flash_image("gemini-3.1-flash-image", "Nano Banana 2"),
        _flash_image("gemini-3.1-flash-image-preview", "Nano Banana 2 (preview)"),
        _flash_image("gemini-nano-banana-2.1", "Nano Banana 2.1", ("1K", "2K", "4K")),
        _flash_image("gemini-3.1-flash-lite-image", "Nano Banana 2 Lite"),
    )
}

# Aggregator-only aliases (served on /v1/ only).
OPENAI_ALIASES: dict[str, ModelInfo] = {
    "gemini-3.1-pro-preview-thinking": ModelInfo(
        "gemini-3.1-pro-preview-thinking",
        "Gemini 3.1 Pro Preview (thinking high)",
        1_048_576,
        65_536,
        ("HIGH",),
        "HIGH",
        openai_alias_of="gemini-3.1-pro-preview",
    )
}


def lookup(name: str) -> ModelInfo | None:
    """The model for a path or body name (`gemini-x`, `models/gemini-x`), or None."""
    name = name.removeprefix("models/")
    return MODELS.get(name)


def image_dimensions(aspect_ratio: str, size: str) -> tuple[int, int]:
    """Width and height of a generated image: Google's table at 1K, scaled for the other classes."""
    scale = {"512": 0.5, "1K": 1, "2K": 2, "4K": 4}[size]
    base = _SIZES_1K.get(aspect_ratio)
    if (
        base is None
    ):  # the 3.1 Flash Image extremes: about one megapixel at 1K, multiples of 16
        w, h = (int(x) for x in aspect_ratio.split(":"))
        side = math.sqrt(1024 * 1024 / (w * h))
        base = (round(w * side / 16) * 16, round(h * side / 16) * 16)
    return int(base[0] * scale), int(base[1] * scale)
