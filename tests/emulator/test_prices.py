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


def test_batch_cost_is_half_with_image_tokens_at_their_rate() -> None:
    standard = prices.cost_usd("gemini-3-pro-image", 1000, 100, 200, 1120)
    assert standard == pytest.approx((1000 * 2 + 300 * 12 + 1120 * 120) / 1e6)
    batch = prices.cost_usd(
        "gemini-3-pro-image", 1000, 100, 200, 1120, discount=prices.BATCH_DISCOUNT
    )
    assert batch == pytest.approx(standard / 2)
    # the 1K image alone at the batch price: $0.067 as the pricing page says
    assert prices.cost_usd(
        "gemini-3-pro-image", 0, 0, 0, 1120, discount=0.5
    ) == pytest.approx(0.0672)
