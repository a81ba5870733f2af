"""Every per-model fact, in one place: kind, token limits, thinking levels, image sizes and tokens, input
images, caching minimums, lifecycle (stage, shutdown, replacement, routing) on the Gemini API and Vertex AI,
and dated, sourced prices with the cost rules (modality, tier, batch). No I/O.

Usage::

    info = model_info("gemini-3.8-flash")                 # ModelInfo | None
    notice = lifecycle_notice("gemini-3-pro-image-preview", "gemini")   # an error: shut down, use ...
    price = price_for("gemini-3.8-flash", spec.pricing.overrides(), on=date(2027, 1, 2))
    cost_usd(reply.usage, price, images=1, tier=reply.service_tier, batch=False)
"""

from __future__ import annotations

from ._entry import Kind, Lifecycle, ModelInfo, Status
from ._listing import catalog_listing
from ._models import (
    CATALOG_AS_OF,
    DEFAULT_OUTPUT_LIMIT,
    LifecycleNotice,
    ModelStatus,
    catalog,
    check_generation,
    image_tokens,
    is_image_model,
    known_models,
    lifecycle_notice,
    max_image_tokens,
    max_input_images,
    model_info,
    model_status,
    resolve_model,
    today,
)
from ._price import (
    BATCH_MULTIPLIER,
    FLEX_MULTIPLIER,
    LONG_CONTEXT_TOKENS,
    PRIORITY_MULTIPLIER,
    Price,
    cost_usd,
    storage_usd,
    tier_multiplier,
    worst_case_usd,
)
from ._pricing import OVERRIDE_KEYS, price_for, price_per_image
from ._table import (
    ALL_THINKING_LEVELS,
    ASPECT_RATIOS,
    EXTREME_ASPECT_RATIOS,
    IMAGE_SIZES,
)

__all__ = (
    "ALL_THINKING_LEVELS",
    "ASPECT_RATIOS",
    "BATCH_MULTIPLIER",
    "CATALOG_AS_OF",
    "DEFAULT_OUTPUT_LIMIT",
    "EXTREME_ASPECT_RATIOS",
    "FLEX_MULTIPLIER",
    "IMAGE_SIZES",
    "LONG_CONTEXT_TOKENS",
    "OVERRIDE_KEYS",
    "PRIORITY_MULTIPLIER",
    "Kind",
    "Lifecycle",
    "LifecycleNotice",
    "ModelInfo",
    "ModelStatus",
    "Price",
    "Status",
    "catalog",
    "catalog_listing",
    "check_generation",
    "cost_usd",
    "image_tokens",
    "is_image_model",
    "known_models",
    "lifecycle_notice",
    "max_image_tokens",
    "max_input_images",
    "model_info",
    "model_status",
    "price_for",
    "price_per_image",
    "resolve_model",
    "storage_usd",
    "tier_multiplier",
    "today",
    "worst_case_usd",
)
