"""What we know about each Gemini 3 / 3.1 model: token limits, thinking levels, image output.

The spec checks settings against this table before anything is sent, so a typo such as `thinking_level =
"medium"` on a model without it fails at once instead of as a 400 on every row. Unknown names return None:
aggregators and proxies sell models under their own names, and for those the server is the judge.

Facts from ../shared/reference/gemini-api.md, sections 2 and 5 and "Limits by provider" (AI Studio figures).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.records import GenerationSettings

# imageConfig values (reference section 2). 3.1 Flash Image adds the extreme ratios and the "512" size.
ASPECT_RATIOS: tuple[str, ...] = (
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
FLASH_IMAGE_EXTRA_RATIOS: tuple[str, ...] = ("1:4", "4:1", "1:8", "8:1")
IMAGE_SIZES: tuple[str, ...] = ("1K", "2K", "4K")
ALL_THINKING_LEVELS: tuple[str, ...] = ("minimal", "low", "medium", "high")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model's limits. `thinking_levels` is empty when the model has no level setting (thinking is
    always on for the image models); `image_sizes` and `aspect_ratios` are empty when it outputs no images."""

    id: str
    input_token_limit: int
    output_token_limit: int
    thinking_levels: tuple[str, ...]
    default_thinking_level: str | None
    image_output: bool
    max_input_images: int  # AI Studio: 3,600 images per request; 14 reference images for the image models
    image_sizes: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()


def _text_model(
    model: str, levels: tuple[str, ...], default: str, tokens: tuple[int, int]
) -> ModelInfo:
    return ModelInfo(
        model,
        tokens[0],
        tokens[1],
        levels,
        default,
        image_output=False,
        max_input_images=3600,
    )


_CONTEXT_1M = (1_048_576, 65_536)
_PRO_31 = ("low", "medium", "high")  # 3.1 Pro has no "minimal"

_MODELS: tuple[ModelInfo, ...] = (
    _text_model("gemini-3.1-pro-preview", _PRO_31, "high", _CONTEXT_1M),
    _text_model("gemini-3.1-pro-preview-customtools", _PRO_31, "high", _CONTEXT_1M),
    # An aggregator's alias of 3.1 Pro; the suffix names its default, not a different model.
    _text_model("gemini-3.1-pro-preview-thinking", _PRO_31, "high", _CONTEXT_1M),
    _text_model("gemini-3-pro-preview", ("low", "high"), "high", _CONTEXT_1M),
    _text_model("gemini-3-flash-preview", ALL_THINKING_LEVELS, "high", _CONTEXT_1M),
    _text_model(
        "gemini-3.1-flash-lite-preview", ALL_THINKING_LEVELS, "minimal", _CONTEXT_1M
    ),
    _text_model("gemini-3.1-flash-lite", ALL_THINKING_LEVELS, "minimal", _CONTEXT_1M),
    ModelInfo(
        "gemini-3-pro-image-preview",
        65_536,
        32_768,
        (),
        None,
        True,
        14,
        IMAGE_SIZES,
        ASPECT_RATIOS,
    ),
    ModelInfo(
        "gemini-3-pro-image",
        65_536,
        32_768,
        (),
        None,
        True,
        14,
        IMAGE_SIZES,
        ASPECT_RATIOS,
    ),
    ModelInfo(
        "gemini-3.1-flash-image-preview",
        131_072,
        32_768,
        (),
        None,
        True,
        14,
        ("512", *IMAGE_SIZES),
        ASPECT_RATIOS + FLASH_IMAGE_EXTRA_RATIOS,
    ),
    ModelInfo(
        "gemini-3.1-flash-image",
        131_072,
        32_768,
        (),
        None,
        True,
        14,
        ("512", *IMAGE_SIZES),
        ASPECT_RATIOS + FLASH_IMAGE_EXTRA_RATIOS,
    ),
)
_BY_ID = {info.id: info for info in _MODELS}

# The output cap assumed for a model we do not know (an aggregator's own name): 3.1 Pro's, the largest.
DEFAULT_OUTPUT_LIMIT = 65_536


def model_info(model: str) -> ModelInfo | None:
    """The catalog entry for `model` (a leading "models/" is ignored); None for names we do not know."""
    return _BY_ID.get(model.removeprefix("models/"))


def known_models() -> tuple[str, ...]:
    """Every model id in the catalog, for "did you mean" hints."""
    return tuple(_BY_ID)


def check_generation(
    settings: GenerationSettings, model: str
) -> tuple[str, str] | None:
    """The first setting that `model` cannot take, as (key, what to do instead); None when all fit.

    Unknown models pass: their server is the judge. Keys are `[generation]` names.
    """
    info = model_info(model)
    if info is None:
        return None
    level = settings.thinking_level
    if level is not None and not info.thinking_levels:
        return (
            "thinking_level",
            f"{info.id} always thinks and takes no thinking level; remove thinking_level",
        )
    if level is not None and level not in info.thinking_levels:
        return (
            "thinking_level",
            f'expected one of {_listing(info.thinking_levels)} for {info.id}, got "{level}"',
        )
    limit = info.output_token_limit
    if settings.max_output_tokens is not None and settings.max_output_tokens > limit:
        return (
            "max_output_tokens",
            f"expected at most {limit} (the output limit of {info.id}), got {settings.max_output_tokens}",
        )
    image_keys = {
        "image_size": settings.image_size,
        "image_aspect_ratio": settings.image_aspect_ratio,
        "response_modalities": "IMAGE"
        if "IMAGE" in settings.response_modalities
        else None,
    }
    for key, value in image_keys.items():
        if value is not None and not info.image_output:
            return key, (
                f"{info.id} cannot output images; remove {key} or use an image model such as gemini-3-pro-image-preview"
            )
    if settings.image_size is not None and settings.image_size not in info.image_sizes:
        return (
            "image_size",
            f'expected one of {_listing(info.image_sizes)} for {info.id}, got "{settings.image_size}"',
        )
    ratio = settings.image_aspect_ratio
    if ratio is not None and ratio not in info.aspect_ratios:
        return (
            "image_aspect_ratio",
            f'expected one of {_listing(info.aspect_ratios)} for {info.id}, got "{ratio}"',
        )
    return None


def _listing(values: tuple[str, ...]) -> str:
    return ", ".join(f'"{value}"' for value in values)
