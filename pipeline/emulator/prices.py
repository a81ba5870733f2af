"""The emulator's one price table, and what a reply costs at it: online (by served tier) and Batch.

Prices are the Gemini Developer API paid-tier list prices per 1M tokens (Standard tier), as the
reference (shared/reference/gemini-api-2026-12.md §2) transcribes them; rows with a date step
(e.g. 3.8 Flash on 2027-01-01) are chosen by the UTC date of the request. Where the reference has
no figure, the assumption is marked in PRICES ("3P": third-party tables).

Cost rules, the same as the client's catalog (pipeline/catalog/_price.py; the emulator imports
nothing from it, so the numbers are repeated here):
- output is billed on candidates and thoughts; image output tokens at the image rate of the row;
- cached input tokens are part of the prompt and billed at the cached rate instead of the input rate;
  audio at the audio rates where the row has them;
- above 200k prompt tokens (cached included) the whole request moves to the row's long rates;
- the tier multiplies every rate (TIER_MULTIPLIER): Flex 0.5, Priority 2.0 (Google: "75%-100% more";
  the upper bound, as the client's catalog takes it), Batch 0.5; a Priority request downgraded to
  Standard is billed at Standard;
- Batch bills cached input at the Standard cached rate ("you pay the standard context caching
  rates", Batch API page);
- cache creation is billed at the Standard input rate, cache storage per token-hour of lifetime
  (not tiered).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

__all__ = (
    "BATCH",
    "BATCH_DISCOUNT",
    "LONG_CONTEXT_TOKENS",
    "PRICES",
    "PRIORITY_MULTIPLIER",
    "TIERS",
    "TIER_MULTIPLIER",
    "Price",
    "price",
    "request_cost",
    "request_usd",
    "standard_price",
)

TIERS = ("standard", "flex", "priority")
BATCH = "batch"
TIER_MULTIPLIER = {"standard": 1.0, "flex": 0.5, "priority": 2.0, BATCH: 0.5}
PRIORITY_MULTIPLIER = TIER_MULTIPLIER["priority"]
BATCH_DISCOUNT = TIER_MULTIPLIER[BATCH]
LONG_CONTEXT_TOKENS = (
    200_000  # rows with a long price charge the whole request at it past this
)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens (storage: per 1M tokens per hour). `long`: the rates above 200k prompt tokens."""

    input: float
    output: float
    cached: float
    storage: float = 0.0
    input_audio: float | None = None
    cached_audio: float | None = None
    image_output: float | None = None
    long: Price | None = None


def _row(*steps: tuple[str, Price]) -> tuple[tuple[date, Price], ...]:
    return tuple((date.fromisoformat(d), p) for d, p in steps)


_FLASH_38 = _row(
    ("2000-01-01", Price(0.75, 3.75, 0.075, 0.50)),
    ("2027-01-01", Price(1.50, 7.50, 0.15, 1.00)),
)
_ARGON = _row(
    ("2000-01-01", Price(2.00, 10.00, 0.10)),
    ("2026-12-01", Price(4.00, 20.00, 0.20)),
)
_PRO_IMAGE = _row(
    ("2000-01-01", Price(2.00, 12.00, 0.20, 4.50, image_output=120.0))
)  # cached, storage: assumed
_FLASH_IMAGE = _row(
    ("2000-01-01", Price(0.50, 3.00, 0.05, 1.00, image_output=60.0))
)  # cached, storage: assumed
_FLASH_LITE_31 = _row(
    ("2000-01-01", Price(0.25, 1.50, 0.025, 1.00, 0.50, 0.05))
)  # storage: assumed

PRICES: dict[str, tuple[tuple[date, Price], ...]] = {
    "gemini-3.1-pro-preview": _row(
        (
            "2000-01-01",
            Price(2.00, 12.00, 0.20, 4.50, long=Price(4.00, 18.00, 0.40, 4.50)),
        )
    ),
    "gemini-3-flash-preview": _row(
        ("2000-01-01", Price(0.50, 3.00, 0.05, 1.00, 1.00, 0.10))
    ),
    "gemini-3.1-flash-lite-preview": _FLASH_LITE_31,  # priced as the GA 3.1 Flash-Lite
    "gemini-3.1-flash-lite": _FLASH_LITE_31,
    "gemini-3-pro-image-preview": _PRO_IMAGE,
    "gemini-3-pro-image": _PRO_IMAGE,
    "gemini-3.1-flash-image-preview": _FLASH_IMAGE,
    "gemini-3.1-flash-image": _FLASH_IMAGE,
    "gemini-3.1-flash-lite-image": _row(
        ("2000-01-01", Price(0.25, 30.00, 0.0, image_output=30.00))
    ),  # 3P; text output at the image rate; no caching
    "gemini-nano-banana-2.1": _row(
        ("2000-01-01", Price(1.50, 7.50, 0.15, 1.00, image_output=30.0))
    ),  # 3P
    "gemini-3.8-flash": _FLASH_38,
    "gemini-3.7-flash": _FLASH_38,
    "gemini-3.6-flash": _FLASH_38,  # cached and storage of 3.7/3.6: as 3.8 (unconfirmed)
    "gemini-3.5-flash": _row(("2000-01-01", Price(1.50, 9.00, 0.15, 1.00))),
    "gemini-3.5-flash-lite": _row(
        ("2000-01-01", Price(0.30, 2.50, 0.03, 1.00))
    ),  # cached, storage: assumed
    "gemini-2.5-pro": _row(
        (
            "2000-01-01",
            Price(1.25, 10.00, 0.125, 4.50, long=Price(2.50, 15.00, 0.25, 4.50)),
        )
    ),
    "gemini-2.5-flash": _row(("2000-01-01", Price(0.30, 2.50, 0.03, 1.00, 1.00, 0.10))),
    "gemini-2.5-flash-lite": _row(
        ("2000-01-01", Price(0.10, 0.40, 0.01, 1.00, 0.30, 0.03))
    ),
    "gemini-4-argon": _ARGON,
    "gemini-4-carbon": _ARGON,  # 3P
    "gemini-4-hydrogen": _row(("2000-01-01", Price(1.50, 7.50, 0.075))),  # 3P
    "gemini-4-neon": _row(
        ("2000-01-01", Price(3.00, 15.00, 0.30))
    ),  # 3P; cached: assumed
}


_TODAY: dict[tuple[str, int], Price | None] = {}  # (model, UTC day number) -> row


def price(model: str, day: date | None = None) -> Price | None:
    """The Standard price row of `model` in force on `day` (today, UTC, by default); None when the
    table has no row for it."""
    model = model.removeprefix("models/")
    if day is None:
        key = (model, int(time.time() // 86400))
        try:
            return _TODAY[key]
        except KeyError:
            if len(_TODAY) > 4096:
                _TODAY.clear()
            found = _TODAY[key] = price(model, datetime.now(UTC).date())
            return found
    steps = PRICES.get(model)
    if steps is None:
        return None
    chosen = steps[0][1]
    for start, row in steps:
        if start <= day:
            chosen = row
    return chosen


def standard_price(
    model: str, prompt_tokens: int = 0, on: date | None = None
) -> tuple[float, float]:
    """(input, output) USD per 1M text tokens at Standard, the long rates past 200k prompt tokens;
    (0, 0) for a model without a price."""
    row = price(model, on)
    if row is None:
        return 0.0, 0.0
    if row.long is not None and prompt_tokens > LONG_CONTEXT_TOKENS:
        row = row.long
    return row.input, row.output


def _by_modality(
    details: dict[str, int], rate: float, audio_rate: float | None
) -> float:
    if audio_rate is None or "AUDIO" not in details:
        return sum(details.values()) * rate
    return sum(
        count * (audio_rate if m == "AUDIO" else rate) for m, count in details.items()
    )


def request_usd(
    model: str,
    tier: str,
    prompt_details: dict[str, int],
    cache_details: dict[str, int],
    output_tokens: int,
    image_tokens: int,
    on: date | None = None,
) -> tuple[float, float, float] | None:
    """USD of one reply at `tier` (`standard`, `flex`, `priority` or `batch`): (fresh input, cached
    input, output), or None for an unpriced model.

    `prompt_details`: prompt tokens by modality, cached included; `cache_details`: the cached ones;
    `output_tokens`: text and thinking; `image_tokens`: at the image rate where the row has one."""
    row = price(model, on)
    if row is None:
        return None
    if row.long is not None and sum(prompt_details.values()) > LONG_CONTEXT_TOKENS:
        row = row.long
    scale = TIER_MULTIPLIER.get(tier, 1.0) / 1e6
    image_rate = row.image_output if row.image_output is not None else row.output
    output = (output_tokens * row.output + image_tokens * image_rate) * scale
    if not cache_details:
        return (
            _by_modality(prompt_details, row.input, row.input_audio) * scale,
            0.0,
            output,
        )
    cached_scale = 1 / 1e6 if tier == BATCH else scale
    fresh = {m: max(0, c - cache_details.get(m, 0)) for m, c in prompt_details.items()}
    return (
        _by_modality(fresh, row.input, row.input_audio) * scale,
        _by_modality(cache_details, row.cached, row.cached_audio) * cached_scale,
        output,
    )


def request_cost(
    model: str,
    tier: str,
    prompt_details: dict[str, int],
    cache_details: dict[str, int],
    output_tokens: int,
    image_tokens: int,
    on: date | None = None,
) -> dict[str, float] | None:
    """`request_usd` by name: {"input", "cached_input", "output"}."""
    usd = request_usd(
        model, tier, prompt_details, cache_details, output_tokens, image_tokens, on
    )
    return (
        None
        if usd is None
        else dict(zip(("input", "cached_input", "output"), usd, strict=True))
    )
