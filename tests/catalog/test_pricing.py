from __future__ import annotations

import pytest

from pipeline.catalog import cost_usd, price_for, worst_case_usd
from pipeline.records import Usage


def test_text_and_thinking_billed_at_the_output_rate() -> None:
    price = price_for("gemini-3.1-pro-preview")
    usage = Usage(
        input_tokens=1_000, output_tokens=500, thinking_tokens=1_500, total_tokens=3_000
    )
    assert cost_usd(usage, price) == pytest.approx((1_000 * 2.0 + 2_000 * 12.0) / 1e6)


def test_cached_tokens_billed_at_the_cache_rate() -> None:
    price = price_for("gemini-3.1-pro-preview")
    usage = Usage(input_tokens=10_000, cached_tokens=8_000, output_tokens=100)
    assert cost_usd(usage, price) == pytest.approx(
        (2_000 * 2.0 + 8_000 * 0.2 + 100 * 12.0) / 1e6
    )


def test_long_prompts_move_the_whole_request_to_the_long_rates() -> None:
    price = price_for("gemini-3.1-pro-preview")
    usage = Usage(input_tokens=250_000, output_tokens=1_000)
    assert cost_usd(usage, price) == pytest.approx((250_000 * 4.0 + 1_000 * 18.0) / 1e6)


def test_image_tokens_billed_at_the_image_rate() -> None:
    price = price_for("gemini-3-pro-image-preview")
    usage = Usage(
        input_tokens=14,
        output_tokens=1_283,
        thinking_tokens=174,
        image_output_tokens=1_120,
    )
    expected = (14 * 2.0 + (163 + 174) * 12.0 + 1_120 * 120.0) / 1e6
    assert cost_usd(usage, price) == pytest.approx(expected)
    assert 1_120 * 120.0 / 1e6 == pytest.approx(
        0.1344
    )  # the published $0.134 per 1K/2K image


def test_unknown_model_has_no_price_not_zero() -> None:
    assert price_for("some-aggregator-model") is None
    assert cost_usd(Usage(input_tokens=5), None) is None


def test_override_lays_over_the_table() -> None:
    price = price_for(
        "gemini-3.1-pro-preview",
        {"input_per_million": 1.0, "output_per_million": 6.0},
    )
    assert price is not None and price.input == 1.0 and price.cached_input == 0.20
    # one key alone changes only that rate
    cached = price_for("gemini-3.1-pro-preview", {"cached_input_per_million": 0.1})
    assert cached is not None and cached.input == 2.0 and cached.cached_input == 0.1


def test_unknown_model_priced_only_from_a_full_override() -> None:
    assert price_for("aggregator-x", {"input_per_million": 1.0}) is None
    price = price_for(
        "aggregator-x", {"input_per_million": 1.0, "output_per_million": 5.0}
    )
    assert price is not None and price.output == 5.0


def test_batch_is_half_price() -> None:
    price = price_for("gemini-3.1-pro-preview")
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    full = cost_usd(usage, price)
    assert full is not None
    assert cost_usd(usage, price, batch=True) == pytest.approx(full / 2)


def test_worst_case_bounds_the_real_cost() -> None:
    price = price_for("gemini-3-pro-image-preview")
    worst = worst_case_usd(
        price, input_tokens=100, max_output_tokens=2_000, max_image_tokens=2_000
    )
    real = cost_usd(
        Usage(
            input_tokens=100,
            output_tokens=2_000 + 200,
            thinking_tokens=1_500,
            image_output_tokens=2_000,
        ),
        price,
    )
    assert real is not None and real <= worst
