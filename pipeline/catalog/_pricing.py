"""Which price applies: the catalog's dated steps for a model on a day, with the spec's `[pricing]` over them.

A model that is not in the catalog and has no `[pricing]` gets no price (a null cost, never a silent zero). An
id that Google routes to another model is billed at that model's rates while it is routed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from ._entry import ModelInfo
from ._models import image_tokens, model_info, today
from ._price import Price

__all__ = ("OVERRIDE_KEYS", "price_for", "price_per_image")

# `[pricing]` keys in the spec -> fields of `Price`.
OVERRIDE_KEYS = {
    "input_per_million": "input",
    "output_per_million": "output",
    "cached_input_per_million": "cached_input",
    "input_above_200k_per_million": "input_long",
    "output_above_200k_per_million": "output_long",
    "image_output_per_million": "image_output",
    "per_image": "per_image",
    "input_audio_per_million": "input_audio",
    "cached_input_audio_per_million": "cached_input_audio",
}
SPEC_SOURCE = "the spec's [pricing]"


def price_for(
    model: str, override: Mapping[str, float] | None = None, *, on: date | None = None
) -> Price | None:
    """The catalog's price for `model` on `on` (today, UTC), with the spec's `[pricing]` keys laid over it.

    Scheduled steps are chosen by the day; a routed id is priced as the model that answers it. A model the
    catalog cannot price gets a price only when `[pricing]` gives both its input and output rates; otherwise
    None. An override of the input (cached input) rate also stands for audio unless its audio key is given.
    """
    day = on or today()
    fields: dict[str, Any] = {
        OVERRIDE_KEYS[key]: value for key, value in (override or {}).items()
    }
    if "input" in fields:
        fields.setdefault("input_audio", None)
    if "cached_input" in fields:
        fields.setdefault("cached_input_audio", None)
    base = _catalog_price(model_info(model), day)
    if base is None:
        if "input" in fields and "output" in fields:
            return Price(**fields, source=SPEC_SOURCE)
        return None
    if not fields:
        return base
    return replace(base, **fields, source=f"{SPEC_SOURCE} over {base.source}")


def _catalog_price(info: ModelInfo | None, day: date) -> Price | None:
    seen: set[str] = set()
    while info is not None and info.id not in seen:
        seen.add(info.id)
        life = info.lifecycle
        if life.routed_on(day) and life.routed_to is not None:
            target = model_info(life.routed_to)
            if target is not None and target.prices:
                routed = _step(target, day)
                note = f"billed as {target.id}, which answers {info.id}'s requests: {routed.source}"
                return replace(routed, source=note)
        if info.prices:
            return _step(info, day)
        info = model_info(info.alias_of) if info.alias_of else None
    return None


def _step(info: ModelInfo, day: date) -> Price:
    """The step of `info.prices` that applies on `day`; outside the schedule, the nearest end of it."""
    for price in info.prices:
        if price.applies_on(day):
            return price
    first = info.prices[0]
    if first.valid_from is not None and day < first.valid_from:
        return first
    return info.prices[-1]


def price_per_image(
    model: str, size: str | None = None, *, on: date | None = None
) -> float | None:
    """USD for one generated image of `size` on `model` at the standard tier: its image tokens at the image
    rate (e.g. $0.134 for a 1K or 2K image on gemini-3-pro-image); None when the model has no image price."""
    price = price_for(model, on=on)
    if price is None or price.image_output is None:
        return None
    return image_tokens(model, size) * price.image_output / 1_000_000
