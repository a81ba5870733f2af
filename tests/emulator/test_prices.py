"""The emulator's price table: standard list prices, dated steps, long context, batch dollars."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.emulator import prices


def test_standard_prices_of_the_served_models() -> None:
    assert prices.standard_price("gemini-3-flash-preview") == (0.50, 3.00)
    assert prices.standard_price("models/gemini-3.1-pro-preview") == (2.00, 12.00)
    assert prices.standard_price("gemini-3.1-pro-preview", prompt_tokens=200_001) == (
        4.00,
        18.00,
    )
    assert prices.standard_price("gemini-3.1-flash-lite-preview") == (0.25, 1.50)
    assert prices.standard_price("no-such-model") == (0.0, 0.0)


def test_dated_steps() -> None:
    assert prices.standard_price("gemini-3.8-flash", on=date(2026, 12, 31)) == (
        0.75,
        3.75,
    )
    assert prices.standard_price("gemini-3.8-flash", on=date(2027, 1, 1)) == (
        1.50,
        7.50,
    )
    assert prices.standard_price("gemini-4-argon", on=date(2026, 11, 30)) == (
        2.00,
        10.00,
    )
    assert prices.standard_price("gemini-4-argon", on=date(2026, 12, 1)) == (
        4.00,
        20.00,
    )


def test_one_table_for_every_tier_and_batch() -> None:
    assert prices.TIER_MULTIPLIER == {
        "standard": 1.0,
        "flex": 0.5,
        "priority": 2.0,  # the client's catalog takes Google's upper bound too
        "batch": 0.5,
    }
    assert (
        prices.price("gemini-3.1-flash-lite-image") is not None
    )  # every served id is priced


def test_batch_cost_is_half_with_image_tokens_at_their_rate() -> None:
    details = {"TEXT": 1000}
    standard = prices.request_usd(
        "gemini-3-pro-image", "standard", details, {}, 300, 1120
    )
    assert standard is not None
    assert sum(standard) == pytest.approx((1000 * 2 + 300 * 12 + 1120 * 120) / 1e6)
    batch = prices.request_usd("gemini-3-pro-image", "batch", details, {}, 300, 1120)
    assert batch is not None and sum(batch) == pytest.approx(sum(standard) / 2)
    # the 1K image alone at the batch price: $0.067 as the pricing page says
    image = prices.request_usd("gemini-3-pro-image", "batch", {}, {}, 0, 1120)
    assert image is not None and sum(image) == pytest.approx(0.0672)


def test_batch_bills_cached_input_at_the_standard_cached_rate() -> None:
    row = prices.price("gemini-3-flash-preview")
    assert row is not None
    cost = prices.request_cost(
        "gemini-3-flash-preview", "batch", {"TEXT": 5000}, {"TEXT": 4000}, 100, 0
    )
    assert cost == pytest.approx(
        {
            "input": 1000 * row.input * 0.5 / 1e6,
            "cached_input": 4000 * row.cached / 1e6,
            "output": 100 * row.output * 0.5 / 1e6,
        }
    )
