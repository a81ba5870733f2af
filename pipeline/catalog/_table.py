"""The catalog's data: every model id the pipeline knows, as of late November 2026, with its facts, its
lifecycle on the Gemini API and on Vertex AI, and its dated, sourced prices.

Facts come from ../shared/reference/gemini-api-2026-12.md (sections 1, 2 and 6) and gemini-api.md (sections 5
and 6), checked against the official pages where they were available; the official page wins where the two
disagree. Prices are the Gemini Developer API's paid tier; figures marked [3P] in a `source` come from third
parties only and are unconfirmed. A source says where a figure was read; `as_of` when.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from ._entry import Lifecycle, ModelInfo
from ._price import Price

__all__ = (
    "ALL_THINKING_LEVELS",
    "ASPECT_RATIOS",
    "EXTREME_ASPECT_RATIOS",
    "IMAGE_SIZES",
    "MODELS",
)

ALL_THINKING_LEVELS: tuple[str, ...] = ("minimal", "low", "medium", "high", "xhigh")
# imageConfig values. The Flash image models add the extreme ratios (and 3.1 Flash Image the "512" size).
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
EXTREME_ASPECT_RATIOS: tuple[str, ...] = ("1:4", "4:1", "1:8", "8:1")
IMAGE_SIZES: tuple[str, ...] = ("1K", "2K", "4K")

# Where the facts were read (full list: gemini-api-2026-12.md, "Sources").
DEPR = "ai.google.dev/gemini-api/docs/deprecations"
CHG = "ai.google.dev/gemini-api/docs/changelog"
FIRE = "firebase.google.com/docs/ai-logic (banner of 2026-11-17)"
PRICE_PAGE = "ai.google.dev/gemini-api/docs/pricing (verbatim transcriptions of 2026-09-20 and 2026-10-07)"
G3_PAGE = "ai.google.dev/gemini-api/docs/gemini-3 model table (2026-05-07)"
LATEST = "ai.google.dev/gemini-api/docs/generate-content/latest-model (Gemini 4 Argon)"

_D = date
_1M = (1_048_576, 65_536)
_THREE = ("low", "medium", "high")
_FOUR = ("minimal", "low", "medium", "high")
_G4 = ("low", "medium", "high", "xhigh")
_FLASH_IMAGE_LEVELS = ("minimal", "high")


def _p(source: str, as_of: date, input: float, output: float, **rates: object) -> Price:
    return Price(input, output, source=source, as_of=as_of, **rates)  # type: ignore[arg-type]


def _until(price: Price, last_day: date) -> Price:
    return replace(price, valid_until=last_day)


def _from(price: Price, first_day: date) -> Price:
    return replace(price, valid_from=first_day)


def _text(
    model: str,
    name: str,
    levels: tuple[str, ...],
    default: str | None,
    lifecycle: Lifecycle,
    prices: tuple[Price, ...],
    *,
    limits: tuple[int, int] = _1M,
    min_cache: int | None = None,
    explicit_cache: bool | None = True,
    **extra: object,
) -> ModelInfo:
    return ModelInfo(
        model,
        "text",
        name,
        limits[0],
        limits[1],
        levels,
        default,
        min_cache_tokens=min_cache,
        explicit_cache=explicit_cache,
        lifecycle=lifecycle,
        prices=prices,
        **extra,  # type: ignore[arg-type]
    )


# fmt: off
# --- prices ---------------------------------------------------------------------------------------------------

_PRICE_ASOF = _D(2026, 10, 7)
# Gemini 3.8 Flash (and, by the same Standard strings on the page, 3.7 and 3.6 Flash): a promotional price through
# 2026-12-31, doubling on 2027-01-01. Cache read and storage as printed for 3.8 Flash.
_FLASH_38 = (
    _until(
        _p(PRICE_PAGE, _PRICE_ASOF, 0.75, 3.75, cached_input=0.075, cache_storage_per_hour=0.50),
        _D(2026, 12, 31),
    ),
    _from(
        _p(PRICE_PAGE, _PRICE_ASOF, 1.50, 7.50, cached_input=0.15, cache_storage_per_hour=1.00),
        _D(2027, 1, 1),
    ),
)
_FLASH_36 = tuple(
    replace(price, source=PRICE_PAGE + "; cache read and storage as 3.8 Flash (unconfirmed)")
    for price in _FLASH_38
)
_PRO_31 = (
    _p(
        PRICE_PAGE, _PRICE_ASOF, 2.00, 12.00, cached_input=0.20, input_long=4.00, output_long=18.00,
        cached_input_long=0.40, cache_storage_per_hour=4.50,
    ),
)
_FLASH_3 = (
    _p(
        G3_PAGE + "; cache read from models.dev [3P]", _D(2026, 5, 7), 0.50, 3.00, input_audio=1.00,
        cached_input=0.05, cached_input_audio=0.10, cache_storage_per_hour=1.00,
    ),
)
_FLASH_LITE_31 = (
    _p(
        G3_PAGE, _D(2026, 5, 7), 0.25, 1.50, input_audio=0.50, cached_input=0.025,
        cached_input_audio=0.05,
    ),
)
_ARGON = (
    _until(_p(LATEST + "; cache read [3P LiteLLM]", _D(2026, 10, 13), 2.00, 10.00, cached_input=0.10),
           _D(2026, 11, 30)),
    _from(_p(LATEST + "; cache read [3P LiteLLM]", _D(2026, 10, 13), 4.00, 20.00, cached_input=0.20),
          _D(2026, 12, 1)),
)
_CARBON = tuple(
    replace(price, source="[3P] laozhang.ai, apidog, vercel/ai (Google's page not stored)", as_of=_D(2026, 11, 11))
    for price in _ARGON
)
_2_5_PRO = (
    _p(
        PRICE_PAGE, _PRICE_ASOF, 1.25, 10.00, input_long=2.50, output_long=15.00, cached_input=0.125,
        cached_input_long=0.25, cache_storage_per_hour=4.50,
    ),
)
_2_5_FLASH = (
    _p(
        PRICE_PAGE, _PRICE_ASOF, 0.30, 2.50, input_audio=1.00, cached_input=0.03, cached_input_audio=0.10,
        cache_storage_per_hour=1.00,
    ),
)
_2_5_FLASH_LITE = (
    _p(
        PRICE_PAGE, _PRICE_ASOF, 0.10, 0.40, input_audio=0.30, cached_input=0.01, cached_input_audio=0.03,
        cache_storage_per_hour=1.00,
    ),
)
_PRO_IMAGE = (
    _p(
        PRICE_PAGE + ": $0.134 per 1K/2K image, $0.24 per 4K", _D(2026, 9, 20), 2.00, 12.00,
        cached_input=0.20, image_output=120.00,
    ),
)
# Input: $0.50 on the pricing page (a 2026-09-25 fixture), $0.25 in the older Gemini 3 table: the page wins.
_FLASH_IMAGE = (
    _p(
        "ai.google.dev/gemini-api/docs/pricing (page-shaped fixture, 2026-09-25): $0.045 per 512 image, "
        "$0.067 per 1K", _D(2026, 9, 25), 0.50, 3.00, image_output=60.00,
    ),
)


# --- lifecycles -----------------------------------------------------------------------------------------------


def _ga(released: date, source: str = DEPR, **more: object) -> Lifecycle:
    return Lifecycle("ga", released, source=source, **more)  # type: ignore[arg-type]


def _preview(released: date, source: str = DEPR, **more: object) -> Lifecycle:
    return Lifecycle("preview", released, source=source, **more)  # type: ignore[arg-type]


def _gone(
    shutdown: date, replacement: str | None, source: str = DEPR, *, stage: str = "ga", exact: bool = True
) -> Lifecycle:
    return Lifecycle(
        "preview" if stage == "preview" else "ga",
        shutdown=shutdown,
        shutdown_exact=exact,
        replacement=replacement,
        source=source,
    )


# Vertex AI: "all general-use Gemini 2.5 models have shut down" (FIRE, 2026-11-17; no day given).
_VERTEX_25_GONE = _gone(_D(2026, 11, 17), None, FIRE, exact=False)
# Vertex's preview image endpoints: "update your model endpoints before July 17, 2026" (3.1 Flash Image page).
_VERTEX_IMAGE_PREVIEW_GONE = "docs.cloud.google.com .../models/gemini/3-1-flash-image-preview"


# --- the models -----------------------------------------------------------------------------------------------

_CURRENT: tuple[ModelInfo, ...] = (
    # Gemini 4 (one unified 1,048,576-token input+output window; 65,536 output tokens per request/segment).
    _text(
        "gemini-4-argon", "Gemini 4 Argon", _THREE, "medium", _ga(_D(2026, 10, 13), CHG + "; " + LATEST),
        _ARGON, min_cache=4_096, explicit_cache=None,
        notes="Vertex: implicit caching from 6,144 tokens, no explicit caching; Flex not offered",
        flex=False,
    ),
    _text(
        "gemini-4-carbon", "Gemini 4 Carbon", _THREE, "medium", _ga(_D(2026, 11, 10), "[3P] apidog, laozhang.ai"),
        _CARBON, explicit_cache=False, notes="official page not stored: details unconfirmed; paid tier only",
    ),
    _text(
        "gemini-4-hydrogen", "Gemini 4 Hydrogen", _G4, "high",
        _ga(_D(2026, 11, 12), "docs.cloud.google.com .../release-notes; .../guides/gemini-4-hydrogen"),
        (_p("[3P] LiteLLM #51436, laozhang.ai", _D(2026, 11, 12), 1.50, 7.50, cached_input=0.075),),
        min_cache=4_096, explicit_cache=False,
        notes="a short-term release with a minimum 45-day retirement notice",
    ),
    _text(
        "gemini-4-neon", "Gemini 4 Neon", _G4, "high",
        _ga(_D(2026, 11, 18), "docs.cloud.google.com/gemini/enterprise/docs/release-notes"),
        (_p("[3P] laozhang.ai, vercel/ai", _D(2026, 11, 18), 3.00, 15.00),),
        explicit_cache=None, notes="paid tier only; cache rates not published",
    ),
    # Gemini 3.x text models.
    _text(
        "gemini-3.8-flash", "Gemini 3.8 Flash", _THREE, "medium", _ga(_D(2026, 9, 2)), _FLASH_38,
        min_cache=4_096,
        flex=True,
    ),
    _text(
        "gemini-3.7-flash", "Gemini 3.7 Flash", _THREE, "medium",
        _ga(_D(2026, 8, 13), DEPR + "; " + CHG + " 2026-10-08", deprecated=_D(2026, 10, 8),
            replacement="gemini-3.8-flash", routed_to="gemini-3.8-flash", routed_from=_D(2026, 10, 8)),
        _FLASH_36, min_cache=4_096,
        flex=True,
    ),
    _text(
        "gemini-3.6-flash", "Gemini 3.6 Flash", _FOUR, "medium", _ga(_D(2026, 7, 21)), _FLASH_36,
        min_cache=4_096,
        flex=True, priority=True,
    ),
    _text(
        "gemini-3.5-flash", "Gemini 3.5 Flash", _FOUR, "medium",
        _ga(_D(2026, 5, 19), DEPR + "; " + CHG + " 2026-10-08", deprecated=_D(2026, 10, 8),
            replacement="gemini-3.6-flash", routed_to="gemini-3.6-flash", routed_from=_D(2026, 10, 8)),
        (_p(PRICE_PAGE, _PRICE_ASOF, 1.50, 9.00, cached_input=0.15, cache_storage_per_hour=1.00),),
        min_cache=4_096,
        flex=True, priority=True,
    ),
    _text(
        "gemini-3.5-flash-lite", "Gemini 3.5 Flash-Lite", _FOUR, "minimal", _ga(_D(2026, 7, 21)),
        (_p(PRICE_PAGE + "; cache read [3P sim PR]", _PRICE_ASOF, 0.30, 2.50, cached_input=0.03),),
        flex=True, priority=True,
    ),
    _text(
        "gemini-3.1-flash-lite", "Gemini 3.1 Flash-Lite", _FOUR, "minimal",
        _ga(_D(2026, 5, 7), shutdown=_D(2027, 5, 7), replacement="gemini-3.5-flash-lite"), _FLASH_LITE_31,
        flex=True, priority=True,
    ),
    _text(
        "gemini-3.1-pro-preview", "Gemini 3.1 Pro Preview", _THREE, "high", _preview(_D(2026, 2, 19)),
        _PRO_31, min_cache=4_096,
        flex=True, priority=True,
    ),
    _text(
        "gemini-3.1-pro-preview-customtools", "Gemini 3.1 Pro Preview (custom tools)", _THREE, "high",
        _preview(_D(2026, 2, 19)), _PRO_31, min_cache=4_096,
        flex=True, priority=True,
    ),
    _text(
        "gemini-3-flash-preview", "Gemini 3 Flash Preview", _FOUR, "high",
        _preview(_D(2025, 12, 17), replacement="gemini-3.6-flash"), _FLASH_3, min_cache=1_024,
        flex=True, priority=True,
    ),
    # Gemini 2.5 on the Gemini API: Pro and Flash routed to newer models from 2026-12-01 (billed at their
    # rates); Flash-Lite "remains available until further notice". All shut down on Vertex AI.
    _text(
        "gemini-2.5-pro", "Gemini 2.5 Pro", (), None,
        _ga(_D(2025, 6, 17), FIRE + "; " + DEPR + " as quoted 2026-11-10 [3P]", deprecated=_D(2026, 11, 10),
            replacement="gemini-3.8-flash", routed_to="gemini-3.8-flash", routed_from=_D(2026, 12, 1)),
        _2_5_PRO, min_cache=2_048, vertex=_VERTEX_25_GONE,
        flex=True, priority=True,
    ),
    _text(
        "gemini-2.5-flash", "Gemini 2.5 Flash", (), None,
        _ga(_D(2025, 6, 17), FIRE + "; " + DEPR + " as quoted 2026-11-10 [3P]", deprecated=_D(2026, 11, 10),
            replacement="gemini-3.5-flash-lite", routed_to="gemini-3.5-flash-lite", routed_from=_D(2026, 12, 1)),
        _2_5_FLASH, min_cache=2_048, vertex=_VERTEX_25_GONE,
        flex=True, priority=True,
    ),
    _text(
        "gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", (), None, _ga(_D(2025, 7, 22), DEPR + " [3P quote]"),
        _2_5_FLASH_LITE, vertex=_VERTEX_25_GONE,
        flex=True, priority=True,
    ),
    # Image models (thinking always on; the Flash image models take "minimal" or "high").
    ModelInfo(
        "gemini-nano-banana-2.1", "image", "Nano Banana 2.1", 131_072, 32_768, _FLASH_IMAGE_LEVELS, "minimal",
        max_input_images=14, image_sizes=IMAGE_SIZES, aspect_ratios=ASPECT_RATIOS + EXTREME_ASPECT_RATIOS,
        image_tokens={"1K": 1_120, "2K": 1_680, "4K": 2_520}, lifecycle=_ga(_D(2026, 10, 6), CHG),
        prices=(_p("[3P] LiteLLM #44983: $0.0336 per 1K image", _D(2026, 10, 6), 1.50, 7.50, image_output=30.00),),
        notes="token limits and tokens per 2K/4K image assumed as 3.1 Flash Image's (unconfirmed)",
    ),
    ModelInfo(
        "gemini-3.1-flash-image", "image", "Nano Banana 2", 131_072, 32_768, _FLASH_IMAGE_LEVELS, "minimal",
        max_input_images=14, image_sizes=("512", *IMAGE_SIZES),
        aspect_ratios=ASPECT_RATIOS + EXTREME_ASPECT_RATIOS,
        image_tokens={"512": 747, "1K": 1_120, "2K": 1_680, "4K": 2_520},
        lifecycle=_ga(_D(2026, 5, 28), CHG + " 2026-10-06", deprecated=_D(2026, 10, 6),
                      replacement="gemini-nano-banana-2.1"),
        prices=_FLASH_IMAGE,
    ),
    ModelInfo(
        "gemini-3-pro-image", "image", "Nano Banana Pro", 65_536, 32_768, (), None, max_input_images=14,
        image_sizes=IMAGE_SIZES, aspect_ratios=ASPECT_RATIOS, image_tokens={"1K": 1_120, "2K": 1_120, "4K": 2_000},
        typical_thinking=128, lifecycle=_ga(_D(2026, 5, 28), CHG), prices=_PRO_IMAGE,
    ),
    ModelInfo(
        "gemini-3.1-flash-lite-image", "image", "Nano Banana 2 Lite", 65_536, 4_096, _FLASH_IMAGE_LEVELS,
        "minimal", max_input_images=14, image_sizes=("1K",), aspect_ratios=ASPECT_RATIOS + EXTREME_ASPECT_RATIOS,
        image_tokens={"1K": 1_120}, explicit_cache=False,
        lifecycle=_ga(_D(2026, 6, 30), CHG + "; ai.google.dev/gemini-api/docs/models/gemini-3.1-flash-lite-image"),
        prices=(_p(
            "[3P] laozhang.ai ($0.0336 per 1K image), apiyi (input $0.25 implied); text output at the image rate "
            "(not published)", _D(2026, 7, 1), 0.25, 30.00, image_output=30.00,
        ),),
        notes="1K only; no Flex or Priority; no caching",
        flex=False, priority=False,
    ),
)

# An aggregator's alias of 3.1 Pro: the suffix names its default thinking level, not a different model.
_ALIASES: tuple[ModelInfo, ...] = (
    replace(
        next(info for info in _CURRENT if info.id == "gemini-3.1-pro-preview"),
        id="gemini-3.1-pro-preview-thinking",
        name="Gemini 3.1 Pro Preview (an aggregator's name, thinking high)",
        doors=("openai",),
        alias_of="gemini-3.1-pro-preview",
    ),
)


def _retired_text(
    model: str, name: str, shutdown: date, replacement: str | None, prices: tuple[Price, ...] = (),
    *, stage: str = "ga", levels: tuple[str, ...] = (), default: str | None = None, source: str = DEPR,
    vertex: Lifecycle | None = None,
) -> ModelInfo:
    return _text(
        model, name, levels, default, _gone(shutdown, replacement, source, stage=stage), prices, vertex=vertex
    )


_RETIRED: tuple[ModelInfo, ...] = (
    _retired_text(
        "gemini-3-pro-preview", "Gemini 3 Pro Preview", _D(2026, 3, 9), "gemini-3.1-pro-preview", _PRO_31,
        stage="preview", levels=("low", "high"), default="high",
    ),
    _retired_text(
        "gemini-3.1-flash-lite-preview", "Gemini 3.1 Flash-Lite Preview", _D(2026, 5, 25), "gemini-3.1-flash-lite",
        _FLASH_LITE_31, stage="preview", levels=_FOUR, default="minimal", source=DEPR + "; " + CHG + " 2026-05-25",
    ),
    *(
        _retired_text(model, name, _D(2026, 6, 1), replacement)
        for model, name, replacement in (
            ("gemini-2.0-flash", "Gemini 2.0 Flash", "gemini-3.6-flash"),
            ("gemini-2.0-flash-001", "Gemini 2.0 Flash 001", "gemini-3.6-flash"),
            ("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", "gemini-3.1-flash-lite"),
            ("gemini-2.0-flash-lite-001", "Gemini 2.0 Flash-Lite 001", "gemini-3.1-flash-lite"),
        )
    ),
    *(
        _retired_text(
            model, "Gemini 2.5 Pro Preview", _D(2025, 12, 2), "gemini-3.1-pro-preview", _2_5_PRO, stage="preview"
        )
        for model in ("gemini-2.5-pro-preview-03-25", "gemini-2.5-pro-preview-05-06", "gemini-2.5-pro-preview-06-05")
    ),
    ModelInfo(
        "gemini-3-pro-image-preview", "image", "Nano Banana Pro (preview)", 65_536, 32_768, max_input_images=14,
        image_sizes=IMAGE_SIZES, aspect_ratios=ASPECT_RATIOS, image_tokens={"1K": 1_120, "2K": 1_120, "4K": 2_000},
        typical_thinking=128,
        lifecycle=_gone(_D(2026, 6, 25), "gemini-3-pro-image", DEPR + "; " + CHG + " 2026-05-28", stage="preview"),
        vertex=_gone(_D(2026, 7, 17), "gemini-3-pro-image", _VERTEX_IMAGE_PREVIEW_GONE, stage="preview", exact=False),
        prices=_PRO_IMAGE,
    ),
    ModelInfo(
        "gemini-3.1-flash-image-preview", "image", "Nano Banana 2 (preview)", 131_072, 32_768, _FLASH_IMAGE_LEVELS,
        "minimal", max_input_images=14, image_sizes=("512", *IMAGE_SIZES),
        aspect_ratios=ASPECT_RATIOS + EXTREME_ASPECT_RATIOS,
        image_tokens={"512": 747, "1K": 1_120, "2K": 1_680, "4K": 2_520},
        lifecycle=_gone(_D(2026, 6, 25), "gemini-3.1-flash-image", DEPR + "; " + CHG + " 2026-05-28",
                        stage="preview"),
        vertex=_gone(_D(2026, 7, 17), "gemini-3.1-flash-image", _VERTEX_IMAGE_PREVIEW_GONE, stage="preview",
                     exact=False),
        prices=_FLASH_IMAGE,
    ),
    ModelInfo(
        "gemini-2.5-flash-image", "image", "Nano Banana", 65_536, 32_768, max_input_images=14,
        image_sizes=("1K",), aspect_ratios=ASPECT_RATIOS, image_tokens={"1K": 1_290},
        # DEPR prints gemini-3.1-flash-image-preview, itself shut down on 2026-06-25: `model_status` follows on.
        lifecycle=_gone(_D(2026, 10, 2), "gemini-3.1-flash-image-preview"), vertex=_VERTEX_25_GONE,
    ),
    *(
        ModelInfo(
            model, "image", name, 0, 0, max_input_images=0,
            lifecycle=_gone(_D(2026, 8, 17), "gemini-3.1-flash-image", CHG + " 2026-06-15"),
            notes="Imagen (the :predict API, not generateContent)",
        )
        for model, name in (
            ("imagen-4.0-generate-001", "Imagen 4"),
            ("imagen-4.0-ultra-generate-001", "Imagen 4 Ultra"),
            ("imagen-4.0-fast-generate-001", "Imagen 4 Fast"),
        )
    ),
    ModelInfo(
        "gemini-omni-flash-preview", "video", "Gemini Omni Flash (preview)", 0, 0, max_input_images=0,
        lifecycle=_gone(_D(2026, 9, 30), "gemini-omni-1.1-flash", DEPR + " as quoted [3P dev.to]", stage="preview"),
        notes="a video model of the Interactions API",
    ),
)

MODELS: tuple[ModelInfo, ...] = _CURRENT + _ALIASES + _RETIRED
# fmt: on
