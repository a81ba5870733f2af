"""Every per-model fact: kind, limits, thinking levels, image tokens, prices. No I/O."""

from __future__ import annotations

from ._models import (
    ALL_THINKING_LEVELS,
    ASPECT_RATIOS,
    DEFAULT_OUTPUT_LIMIT,
    FLASH_IMAGE_EXTRA_RATIOS,
    check_generation,
    model_info,
)
from ._pricing import (
    PRICE_TABLE,
    PRICES_AS_OF,
    Price,
    cost_usd,
    price_for,
    worst_case_usd,
)

__all__ = (
    "ALL_THINKING_LEVELS",
    "ASPECT_RATIOS",
    "DEFAULT_OUTPUT_LIMIT",
    "FLASH_IMAGE_EXTRA_RATIOS",
    "PRICES_AS_OF",
    "PRICE_TABLE",
    "Price",
    "check_generation",
    "cost_usd",
    "model_info",
    "price_for",
    "worst_case_usd",
)
