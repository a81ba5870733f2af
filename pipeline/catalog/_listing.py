"""The catalog as rows, for `pipeline models`: one flat record per model id, JSON-ready. No I/O."""

from __future__ import annotations

from datetime import date
from typing import Any

from ._models import catalog, model_status, today
from ._price import Price, tier_multiplier
from ._pricing import price_for, price_per_image

__all__ = ("catalog_listing",)


def catalog_listing(
    provider: str | None = None, *, on: date | None = None
) -> list[dict[str, Any]]:
    """Every model of `catalog(provider)` with its lifecycle on `provider` (the Gemini API's when None) and its
    prices on `on` (today): standard input and output per 1M tokens, Batch and Flex (half of them), the
    cache-read rate, audio input where it has its own rate, and the price of one 1K image on image models.
    Flex prices are None where the Gemini API does not offer Flex for the model."""
    day = on or today()
    rows = []
    for info in catalog(provider):
        status = model_status(info.id, provider or "gemini", on=day)
        price = price_for(info.id, on=day)
        rows.append(
            {
                "id": info.id,
                "name": info.name,
                "kind": info.kind,
                "status": status.status,
                "shutdown": _day(status.shutdown),
                "replacement": status.replacement,
                "routed_to": status.routed_to,
                "doors": list(info.doors),
                "input_token_limit": info.input_token_limit,
                "output_token_limit": info.output_token_limit,
                "thinking_levels": list(info.thinking_levels),
                "min_cache_tokens": info.min_cache_tokens,
                "flex": info.flex,
                "priority": info.priority,
                **_prices(price, flex=info.flex is not False),
                "image_1k_usd": price_per_image(info.id, "1K", on=day)
                if info.kind == "image"
                else None,
            }
        )
    return rows


def _prices(price: Price | None, *, flex: bool) -> dict[str, Any]:
    if price is None:
        return dict.fromkeys(
            (
                "input",
                "output",
                "cached_input",
                "input_audio",
                "batch_input",
                "batch_output",
                "flex_input",
                "flex_output",
                "price_as_of",
                "price_source",
            )
        )
    factor = tier_multiplier(price, "flex")
    return {
        "input": price.input,
        "output": price.output,
        "cached_input": price.cached_input,
        "input_audio": price.input_audio,
        "batch_input": price.input * price.batch_multiplier,
        "batch_output": price.output * price.batch_multiplier,
        "flex_input": price.input * factor if flex else None,
        "flex_output": price.output * factor if flex else None,
        "price_as_of": _day(price.as_of),
        "price_source": price.source,
    }


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
