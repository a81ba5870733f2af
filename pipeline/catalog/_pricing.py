"""What a reply costs: a dated price table with its sources, overridable by the spec's `[pricing]`.

Rules (Gemini Developer API, paid tier; ../shared/reference/gemini-api.md section 6):
- output is billed on candidates *and* thoughts ("output price including thinking tokens");
- cached input tokens are part of `promptTokenCount` and billed at the cache rate instead of the input rate;
- above 200k prompt tokens (cached included) the whole request moves to the long-context rates;
- image output tokens are billed at the image rate (1K/2K image = 1,120 tokens, 4K = 2,000);
- the Batch API is billed at 50% of these rates.

A model that is not in the table and has no `[pricing]` gets a null cost, never a silent zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from pipeline.records import Usage

PRICES_AS_OF = "2026-09-13"
PRICE_SOURCES = (
    "ai.google.dev/gemini-api/docs/pricing (as quoted in ../shared/reference/gemini-api.md section 6)",
    "ai.google.dev/gemini-api/docs/gemini-3 model table (2026-05-07)",
)
LONG_CONTEXT_TOKENS = 200_000
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens (and per image where a provider charges per image)."""

    input: float
    output: float
    cached_input: float | None = None
    input_long: float | None = None
    output_long: float | None = None
    cached_input_long: float | None = None
    image_output: float | None = None
    per_image: float | None = None


_PRO = Price(
    input=2.0,
    output=12.0,
    cached_input=0.20,
    input_long=4.0,
    output_long=18.0,
    cached_input_long=0.40,
)
_PRO_IMAGE = Price(input=2.0, output=12.0, cached_input=0.20, image_output=120.0)
_FLASH = Price(input=0.50, output=3.0, cached_input=0.05)
_FLASH_LITE = Price(input=0.25, output=1.50, cached_input=0.025)
# Input price for 3.1 Flash Image: $0.25 in the Gemini 3 model table, $0.50 in a pricing-page excerpt; we take
# the higher, so estimates and budgets err on the safe side.
_FLASH_IMAGE = Price(input=0.50, output=3.0, image_output=60.0)

PRICE_TABLE: dict[str, Price] = {
    "gemini-3.1-pro-preview": _PRO,
    "gemini-3.1-pro-preview-customtools": _PRO,
    "gemini-3.1-pro-preview-thinking": _PRO,  # aggregators' name for the same model; their own price via [pricing]
    "gemini-3-pro-preview": _PRO,
    "gemini-3-pro-image-preview": _PRO_IMAGE,
    "gemini-3-pro-image": _PRO_IMAGE,
    "gemini-3-flash-preview": _FLASH,
    "gemini-3.1-flash-lite-preview": _FLASH_LITE,
    "gemini-3.1-flash-lite": _FLASH_LITE,
    "gemini-3.1-flash-image-preview": _FLASH_IMAGE,
    "gemini-3.1-flash-image": _FLASH_IMAGE,
}


# `[pricing]` keys in the spec -> fields of `Price`.
OVERRIDE_KEYS = {
    "input_per_million": "input",
    "output_per_million": "output",
    "cached_input_per_million": "cached_input",
    "input_above_200k_per_million": "input_long",
    "output_above_200k_per_million": "output_long",
    "image_output_per_million": "image_output",
    "per_image": "per_image",
}


def price_for(model: str, override: Mapping[str, float] | None = None) -> Price | None:
    """The table's price for `model`, with the spec's `[pricing]` keys laid over it.

    A model the table does not know gets a price only when `[pricing]` gives both its input and output
    rates; otherwise None (an unknown cost, never a silent zero).
    """
    fields = {OVERRIDE_KEYS[key]: value for key, value in (override or {}).items()}
    base = PRICE_TABLE.get(model)
    if base is None:
        if "input" in fields and "output" in fields:
            return Price(**fields)
        return None
    return replace(base, **fields)


def cost_usd(
    usage: Usage, price: Price | None, *, images: int = 0, batch: bool = False
) -> float | None:
    """The cost of `usage` at `price`; None when the price is unknown."""
    if price is None:
        return None
    long = usage.input_tokens > LONG_CONTEXT_TOKENS
    input_rate = (
        price.input_long if long and price.input_long is not None else price.input
    )
    output_rate = (
        price.output_long if long and price.output_long is not None else price.output
    )
    cached_rate = (
        price.cached_input_long
        if long and price.cached_input_long is not None
        else price.cached_input
    )
    if cached_rate is None:
        cached_rate = input_rate
    cached = min(usage.cached_tokens, usage.input_tokens)
    image_tokens = usage.image_output_tokens if price.image_output is not None else 0
    text_output = max(0, usage.output_tokens - image_tokens) + usage.thinking_tokens
    total = (
        (usage.input_tokens - cached) * input_rate
        + cached * cached_rate
        + text_output * output_rate
        + image_tokens * (price.image_output or 0.0)
    ) / 1_000_000
    if price.per_image is not None:
        total += images * price.per_image
    return total * BATCH_DISCOUNT if batch else total


def worst_case_usd(
    price: Price | None,
    *,
    input_tokens: int,
    max_output_tokens: int,
    max_image_tokens: int = 0,
) -> float:
    """An upper bound for one request, reserved against the budget before it is sent.

    Text and thinking output is priced at the dearest output rate the model has, up to `max_output_tokens`;
    generated images at the image rate for `max_image_tokens` (2,000 for a 4K image); input at the long-context
    rate when the estimate is near the 200k threshold. An unknown price reserves nothing: the engine refuses a
    budget on a model without a price before the run starts.
    """
    if price is None:
        return 0.0
    near_long = input_tokens > LONG_CONTEXT_TOKENS * 0.8
    input_rate = max(price.input, price.input_long or 0.0) if near_long else price.input
    output_rate = max(price.output, price.output_long or 0.0)
    images = max_image_tokens * (price.image_output or 0.0)
    # Token estimates are approximate (chars / 4); 25% headroom keeps the bound honest.
    tokens = (
        input_tokens * 1.25 * input_rate + max_output_tokens * output_rate + images
    ) / 1_000_000
    return tokens + (price.per_image or 0.0)
