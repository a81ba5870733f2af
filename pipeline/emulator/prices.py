"""List prices of the Gemini Developer API, paid tier, in USD per 1M tokens (standard tier).

From docs/reference gemini-api-2026-12.md §2 (transcriptions of the pricing page, Sep-Oct 2026, and
model pages). Batch is 50 % of these (`BATCH_DISCOUNT`). Some prices are dated steps; a price
applies from its date on (UTC). Output prices include thinking tokens; image output tokens have
their own rate. Models with a long-context tier bill the whole request at the higher rate once the
prompt exceeds 200,000 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

BATCH_DISCOUNT = 0.5
LONG_CONTEXT_TOKENS = 200_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens from `since` on; `*_long` for prompts over 200k tokens (None: one rate)."""

    input: float
    output: float
    image_output: float | None = None
    input_long: float | None = None
    output_long: float | None = None
    since: date = date.min


_D = date
_FLASH_38 = (
    Price(0.75, 3.75),
    Price(1.50, 7.50, since=_D(2027, 1, 1)),
)
_GEMINI_4 = (
    Price(2.00, 10.00),
    Price(4.00, 20.00, since=_D(2026, 12, 1)),
)
_PRO_31 = (Price(2.00, 12.00, input_long=4.00, output_long=18.00),)
_PRO_IMAGE = (Price(2.00, 12.00, image_output=120.00),)
_FLASH_IMAGE = (Price(0.50, 3.00, image_output=60.00),)
_FLASH_LITE_31 = (Price(0.25, 1.50),)

# Newest step last. Ids the emulator serves come first; the rest are listed so that a model table
# that grows does not silently cost nothing.
PRICES: dict[str, tuple[Price, ...]] = {
    "gemini-3.1-pro-preview": _PRO_31,
    "gemini-3-flash-preview": (Price(0.50, 3.00),),
    "gemini-3.1-flash-lite-preview": _FLASH_LITE_31,
    "gemini-3.1-flash-lite": _FLASH_LITE_31,
    "gemini-3-pro-image-preview": _PRO_IMAGE,
    "gemini-3-pro-image": _PRO_IMAGE,
    "gemini-3.1-flash-image-preview": _FLASH_IMAGE,
    "gemini-3.1-flash-image": _FLASH_IMAGE,
    "gemini-nano-banana-2.1": (Price(1.50, 7.50, image_output=30.00),),
    "gemini-3.8-flash": _FLASH_38,
    "gemini-3.7-flash": _FLASH_38,
    "gemini-3.6-flash": _FLASH_38,
    "gemini-3.5-flash": (Price(1.50, 9.00),),
    "gemini-3.5-flash-lite": (Price(0.30, 2.50),),
    "gemini-2.5-pro": (Price(1.25, 10.00, input_long=2.50, output_long=15.00),),
    "gemini-2.5-flash": (Price(0.30, 2.50),),
    "gemini-2.5-flash-lite": (Price(0.10, 0.40),),
    "gemini-4-argon": _GEMINI_4,
    "gemini-4-carbon": _GEMINI_4,
    "gemini-4-hydrogen": (Price(1.50, 7.50),),
    "gemini-4-neon": (Price(3.00, 15.00),),
}

_FREE = Price(0.0, 0.0)


def price(model: str, on: date | None = None) -> Price:
    """The standard price of `model` on a day (default: today, UTC); zero for an unknown model."""
    steps = PRICES.get(model.removeprefix("models/"))
    if not steps:
        return _FREE
    day = on or datetime.now(UTC).date()
    current = steps[0]
    for step in steps:
        if step.since <= day:
            current = step
    return current


def standard_price(
    model: str, prompt_tokens: int = 0, on: date | None = None
) -> tuple[float, float]:
    """(input, output) USD per 1M tokens at the standard tier; the long-context rates past 200k."""
    p = price(model, on)
    if prompt_tokens > LONG_CONTEXT_TOKENS and p.input_long is not None:
        return p.input_long, p.output_long if p.output_long is not None else p.output
    return p.input, p.output


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    thinking_tokens: int = 0,
    image_tokens: int = 0,
    *,
    discount: float = 1.0,
    on: date | None = None,
) -> float:
    """Dollars for one reply: input at the input rate, text and thinking at the output rate, image
    tokens at the image rate; times `discount` (BATCH_DISCOUNT for the Batch API)."""
    p = price(model, on)
    rate_in, rate_out = standard_price(model, input_tokens, on)
    rate_image = p.image_output if p.image_output is not None else rate_out
    total = (
        input_tokens * rate_in
        + (output_tokens + thinking_tokens) * rate_out
        + image_tokens * rate_image
    )
    return total * discount / 1_000_000
