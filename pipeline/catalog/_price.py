"""One price (USD per 1M tokens, dated and sourced) and what a reply costs at it. No lookups, no I/O.

Rules (Gemini Developer API, paid tier; ../shared/reference/gemini-api-2026-12.md sections 2 and 7):
- output is billed on candidates *and* thoughts ("output price including thinking tokens");
- cached input tokens are part of `promptTokenCount` and billed at the cache-read rate instead of the input rate;
- input and cached input are priced by modality where the model has a separate audio rate: the reply's
  `promptTokensDetails` / `cacheTokensDetails` say how many tokens were audio;
- above 200k prompt tokens (cached included) the whole request moves to the long-context rates;
- image output tokens are billed at the image rate (3 Pro Image: 1K/2K image = 1,120 tokens, 4K = 2,000);
- the served tier multiplies every rate: Flex 0.5, Priority up to 2.0 (Google: "75%-100% more"; we take the
  upper bound so a cost or a budget never understates); Standard 1;
- the Batch API is billed at 0.5 of every rate except cached input, which stays at the standard
  context-caching rate ("you pay the standard context caching rates", Batch API page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from pipeline.records import Usage

__all__ = (
    "BATCH_MULTIPLIER",
    "FLEX_MULTIPLIER",
    "LONG_CONTEXT_TOKENS",
    "PRIORITY_MULTIPLIER",
    "Price",
    "cost_usd",
    "storage_usd",
    "tier_multiplier",
    "worst_case_usd",
)

LONG_CONTEXT_TOKENS = 200_000
FLEX_MULTIPLIER = 0.5  # "priced at 50% of the standard API" (Flex inference page)
PRIORITY_MULTIPLIER = (
    2.0  # "75%-100% more than standard" (Priority inference page): the upper bound
)
BATCH_MULTIPLIER = (
    0.5  # "priced at 50% of the standard interactive API cost" (Batch API page)
)

# Served-tier names -> multiplier name. Vertex's trafficType values are mapped to these names by the provider;
# a tier we do not know (e.g. provisioned throughput, prepaid) is priced at standard.
_STANDARD = frozenset({"", "standard", "unspecified", "on_demand", "default"})


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens (per image for `per_image`; per million tokens per hour for cache storage).

    `valid_from`/`valid_until` bound the days a scheduled price applies (inclusive; None: open); `as_of` is
    when the figure was read and `source` where. `input_audio`/`cached_input_audio` are the audio rates of
    models whose price table has one (None: audio costs what text does).
    """

    input: float
    output: float
    cached_input: float | None = None
    input_long: float | None = None
    output_long: float | None = None
    cached_input_long: float | None = None
    image_output: float | None = None
    per_image: float | None = None
    input_audio: float | None = None
    cached_input_audio: float | None = None
    cache_storage_per_hour: float | None = None
    flex_multiplier: float = FLEX_MULTIPLIER
    priority_multiplier: float = PRIORITY_MULTIPLIER
    batch_multiplier: float = BATCH_MULTIPLIER
    valid_from: date | None = None
    valid_until: date | None = None
    as_of: date | None = None
    source: str = ""

    def applies_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


def tier_multiplier(price: Price, tier: str | None) -> float:
    """The factor `tier` ("standard", "flex", "priority"; any case, a "service_tier_" prefix allowed) puts on
    every rate of `price`. An unknown tier is priced at standard."""
    name = (tier or "").strip().lower().removeprefix("service_tier_")
    if name == "flex":
        return price.flex_multiplier
    if name == "priority":
        return price.priority_multiplier
    return 1.0


def cost_usd(
    usage: Usage,
    price: Price | None,
    *,
    images: int = 0,
    tier: str | None = "standard",
    batch: bool = False,
) -> float | None:
    """The cost of `usage` at `price`, served at `tier` (or through the Batch API); None when the price is
    unknown. `images` counts generated images, for prices per image."""
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
    audio_rate = input_rate if price.input_audio is None else price.input_audio
    if price.cached_input_audio is not None:
        cached_audio_rate = price.cached_input_audio
    else:  # no cache discount known for audio: never understate
        cached_audio_rate = cached_rate if price.input_audio is None else audio_rate
    cached = min(usage.cached_tokens, usage.input_tokens)
    uncached = usage.input_tokens - cached
    audio_cached = min(_audio(usage.cached_by_modality), cached)
    audio_uncached = min(
        max(0, _audio(usage.input_by_modality) - audio_cached), uncached
    )
    image_tokens = usage.image_output_tokens if price.image_output is not None else 0
    text_output = max(0, usage.output_tokens - image_tokens) + usage.thinking_tokens
    fresh = (
        (uncached - audio_uncached) * input_rate
        + audio_uncached * audio_rate
        + text_output * output_rate
        + image_tokens * (price.image_output or 0.0)
    ) / 1_000_000
    reused = (
        (cached - audio_cached) * cached_rate + audio_cached * cached_audio_rate
    ) / 1_000_000
    fresh += images * (price.per_image or 0.0)
    if batch:
        return fresh * price.batch_multiplier + reused
    factor = tier_multiplier(price, tier)
    return (fresh + reused) * factor


def _audio(by_modality: Mapping[str, int] | None) -> int:
    value = by_modality.get("audio", 0) if by_modality else 0
    return value if isinstance(value, int) and value > 0 else 0


def storage_usd(price: Price | None, *, tokens: int, hours: float) -> float | None:
    """What keeping `tokens` in an explicit context cache for `hours` costs; None when the model has no
    storage price (Gemini 4: implicit caching only)."""
    if price is None or price.cache_storage_per_hour is None:
        return None
    return tokens / 1_000_000 * price.cache_storage_per_hour * hours


def worst_case_usd(
    price: Price | None,
    *,
    input_tokens: int,
    max_output_tokens: int,
    max_image_tokens: int = 0,
    tier: str | None = "standard",
    batch: bool = False,
) -> float:
    """An upper bound for one request, reserved against the budget before it is sent.

    Text and thinking output is priced at the dearest output rate the model has, up to `max_output_tokens`;
    generated images at the image rate for `max_image_tokens` (the catalog's `max_image_tokens`); input at the
    dearest rate (long context near the 200k threshold, audio) with 25% headroom, at `tier` (or Batch). An
    unknown price reserves nothing: the engine refuses a budget on a model without a price before the run starts.
    """
    if price is None:
        return 0.0
    near_long = input_tokens > LONG_CONTEXT_TOKENS * 0.8
    input_rate = max(
        price.input,
        price.input_audio or 0.0,
        (price.input_long or 0.0) if near_long else 0.0,
    )
    output_rate = max(price.output, price.output_long or 0.0)
    images = max_image_tokens * (price.image_output or 0.0)
    # Token estimates are approximate (chars / 4); 25% headroom keeps the bound honest.
    tokens = (
        input_tokens * 1.25 * input_rate + max_output_tokens * output_rate + images
    ) / 1_000_000
    total = tokens + (price.per_image or 0.0)
    return total * (price.batch_multiplier if batch else tier_multiplier(price, tier))
