"""Prices as billed: dated steps, routed ids, overrides, and the cost rules (modality, cache, tier, batch)."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.catalog import (
    Price,
    cost_usd,
    price_for,
    price_per_image,
    storage_usd,
    tier_multiplier,
    worst_case_usd,
)
from pipeline.records import Usage

DEC_2026 = date(2026, 12, 3)


def test_text_and_thinking_billed_at_the_output_rate() -> None:
    price = price_for("gemini-3.1-pro-preview", on=DEC_2026)
    usage = Usage(
        input_tokens=1_000, output_tokens=500, thinking_tokens=1_500, total_tokens=3_000
    )
    assert cost_usd(usage, price) == pytest.approx((1_000 * 2.0 + 2_000 * 12.0) / 1e6)


def test_cached_tokens_billed_at_the_cache_rate() -> None:
    price = price_for("gemini-3.1-pro-preview", on=DEC_2026)
    usage = Usage(input_tokens=10_000, cached_tokens=8_000, output_tokens=100)
    assert cost_usd(usage, price) == pytest.approx(
        (2_000 * 2.0 + 8_000 * 0.2 + 100 * 12.0) / 1e6
    )


def test_long_prompts_move_the_whole_request_to_the_long_rates() -> None:
    price = price_for("gemini-3.1-pro-preview", on=DEC_2026)
    usage = Usage(input_tokens=250_000, output_tokens=1_000)
    assert cost_usd(usage, price) == pytest.approx((250_000 * 4.0 + 1_000 * 18.0) / 1e6)


def test_image_tokens_billed_at_the_image_rate() -> None:
    price = price_for("gemini-3-pro-image", on=DEC_2026)
    usage = Usage(
        input_tokens=14,
        output_tokens=1_283,
        thinking_tokens=174,
        image_output_tokens=1_120,
    )
    expected = (14 * 2.0 + (163 + 174) * 12.0 + 1_120 * 120.0) / 1e6
    assert cost_usd(usage, price) == pytest.approx(expected)
    # the published $0.134 per 1K/2K image and $0.24 per 4K; $0.045 per 512 image on 3.1 Flash Image
    assert price_per_image("gemini-3-pro-image", "2K", on=DEC_2026) == pytest.approx(
        0.1344
    )
    assert price_per_image("gemini-3-pro-image", "4K", on=DEC_2026) == pytest.approx(
        0.24
    )
    assert price_per_image(
        "gemini-3.1-flash-image", "512", on=DEC_2026
    ) == pytest.approx(0.0448, abs=1e-4)
    assert price_per_image("gemini-3.8-flash", on=DEC_2026) is None


# --- dates ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "day", "rates"),
    [
        # Gemini 4 Argon: $2/$10 through 2026-11-30, $4/$20 from 2026-12-01.
        ("gemini-4-argon", date(2026, 11, 30), (2.00, 10.00, 0.10)),
        ("gemini-4-argon", date(2026, 12, 1), (4.00, 20.00, 0.20)),
        # 3.8 Flash: $0.75/$3.75 through 2026-12-31, $1.50/$7.50 from 2027-01-01.
        ("gemini-3.8-flash", date(2026, 12, 31), (0.75, 3.75, 0.075)),
        ("gemini-3.8-flash", date(2027, 1, 1), (1.50, 7.50, 0.15)),
        ("gemini-3.6-flash", date(2027, 6, 1), (1.50, 7.50, 0.15)),
        # A flat price applies on any day.
        ("gemini-3.1-pro-preview", date(2030, 1, 1), (2.00, 12.00, 0.20)),
    ],
)
def test_scheduled_price_steps_are_chosen_by_the_request_date(
    model: str, day: date, rates: tuple[float, float, float]
) -> None:
    price = price_for(model, on=day)
    assert price is not None
    assert (price.input, price.output, price.cached_input) == rates
    assert price.source and price.as_of is not None


def test_storage_is_priced_per_million_tokens_per_hour() -> None:
    flash = price_for("gemini-3.8-flash", on=DEC_2026)
    assert storage_usd(flash, tokens=2_000_000, hours=3) == pytest.approx(2 * 0.50 * 3)
    assert (
        storage_usd(
            price_for("gemini-3.8-flash", on=date(2027, 2, 1)),
            tokens=1_000_000,
            hours=1,
        )
        == 1.0
    )
    assert (
        storage_usd(
            price_for("gemini-3.1-pro-preview", on=DEC_2026), tokens=1_000_000, hours=1
        )
        == 4.50
    )
    # Gemini 4 Argon: implicit caching only, no storage price.
    assert (
        storage_usd(price_for("gemini-4-argon", on=DEC_2026), tokens=1_000, hours=1)
        is None
    )


def test_a_routed_id_is_billed_at_the_rates_of_the_model_that_answers() -> None:
    own = price_for("gemini-2.5-pro", on=date(2026, 11, 30))
    routed = price_for("gemini-2.5-pro", on=DEC_2026)
    flash = price_for("gemini-3.8-flash", on=DEC_2026)
    assert own is not None and routed is not None and flash is not None
    assert (own.input, own.output) == (1.25, 10.00)
    assert (routed.input, routed.output) == (flash.input, flash.output)
    assert "gemini-3.8-flash" in routed.source


# --- modality, cache, tier, batch -----------------------------------------------------------------------------


def test_audio_input_is_priced_at_its_own_rate() -> None:
    price = price_for(
        "gemini-3-flash-preview", on=DEC_2026
    )  # $0.50 text/image/video, $1.00 audio
    usage = Usage(
        input_tokens=10_000,
        output_tokens=100,
        input_by_modality={"text": 2_000, "audio": 8_000},
    )
    assert cost_usd(usage, price) == pytest.approx(
        (2_000 * 0.50 + 8_000 * 1.00 + 100 * 3.0) / 1e6
    )
    # Without the breakdown every input token is at the text rate.
    flat = Usage(input_tokens=10_000, output_tokens=100)
    assert cost_usd(flat, price) == pytest.approx((10_000 * 0.50 + 100 * 3.0) / 1e6)


def test_cached_audio_is_priced_at_the_cached_audio_rate() -> None:
    price = price_for(
        "gemini-2.5-flash", on=date(2026, 11, 1)
    )  # cached $0.03 text, $0.10 audio
    usage = Usage(
        input_tokens=10_000,
        cached_tokens=6_000,
        output_tokens=0,
        input_by_modality={"text": 4_000, "audio": 6_000},
        cached_by_modality={"text": 2_000, "audio": 4_000},
    )
    # uncached: 2,000 text at $0.30 and 2,000 audio at $1.00; cached: 2,000 text at $0.03, 4,000 audio at $0.10
    assert cost_usd(usage, price) == pytest.approx(
        (2_000 * 0.30 + 2_000 * 1.00 + 2_000 * 0.03 + 4_000 * 0.10) / 1e6
    )


def test_a_breakdown_never_moves_more_tokens_than_the_counts_hold() -> None:
    price = price_for("gemini-3-flash-preview", on=DEC_2026)
    # Details need not sum to the count: the counts are the bill, the breakdown only says what was audio.
    usage = Usage(input_tokens=1_000, input_by_modality={"audio": 5_000})
    assert cost_usd(usage, price) == pytest.approx(1_000 * 1.00 / 1e6)


@pytest.mark.parametrize(
    ("tier", "factor"),
    [
        ("standard", 1.0),
        (None, 1.0),
        ("flex", 0.5),
        ("FLEX", 0.5),
        ("SERVICE_TIER_FLEX", 0.5),
        ("priority", 2.0),
        ("provisioned_throughput", 1.0),
    ],
)
def test_the_served_tier_multiplies_every_rate(tier: str | None, factor: float) -> None:
    price = price_for("gemini-3.8-flash", on=DEC_2026)
    assert price is not None and tier_multiplier(price, tier) == factor
    usage = Usage(input_tokens=10_000, cached_tokens=4_000, output_tokens=2_000)
    standard = cost_usd(usage, price)
    assert standard is not None
    assert cost_usd(usage, price, tier=tier) == pytest.approx(standard * factor)


def test_batch_is_half_price_but_cache_hits_stay_at_the_standard_cache_rate() -> None:
    price = price_for("gemini-3.1-pro-preview", on=DEC_2026)
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    full = cost_usd(usage, price)
    assert full is not None
    assert cost_usd(usage, price, batch=True) == pytest.approx(full / 2)
    cached = Usage(input_tokens=10_000, cached_tokens=8_000, output_tokens=100)
    assert cost_usd(cached, price, batch=True) == pytest.approx(
        ((2_000 * 2.0 + 100 * 12.0) / 2 + 8_000 * 0.20) / 1e6
    )
    # The published Batch rows: 3.8 Flash $0.375 / $1.875, 3.1 Pro Preview $1.00 / $6.00.
    flash = price_for("gemini-3.8-flash", on=DEC_2026)
    one_million = Usage(input_tokens=1_000_000)
    assert cost_usd(one_million, flash, batch=True) == pytest.approx(0.375)
    assert cost_usd(Usage(output_tokens=1_000_000), price, batch=True) == pytest.approx(
        6.0
    )


def test_worst_case_follows_the_tier() -> None:
    price = price_for("gemini-3.8-flash", on=DEC_2026)
    standard = worst_case_usd(price, input_tokens=1_000, max_output_tokens=1_000)
    assert worst_case_usd(
        price, input_tokens=1_000, max_output_tokens=1_000, tier="priority"
    ) == pytest.approx(2 * standard)
    assert worst_case_usd(
        price, input_tokens=1_000, max_output_tokens=1_000, batch=True
    ) == pytest.approx(standard / 2)


def test_worst_case_bounds_the_real_cost() -> None:
    price = price_for("gemini-3-pro-image", on=DEC_2026)
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
    audio = price_for("gemini-3-flash-preview", on=DEC_2026)
    bound = worst_case_usd(audio, input_tokens=1_000, max_output_tokens=0)
    spent = cost_usd(
        Usage(input_tokens=1_000, input_by_modality={"audio": 1_000}), audio
    )
    assert spent is not None and spent <= bound


# --- [pricing] ------------------------------------------------------------------------------------------------


def test_unknown_model_has_no_price_not_zero() -> None:
    assert price_for("some-aggregator-model") is None
    assert cost_usd(Usage(input_tokens=5), None) is None


def test_override_lays_over_the_table() -> None:
    price = price_for(
        "gemini-3.1-pro-preview",
        {"input_per_million": 1.0, "output_per_million": 6.0},
        on=DEC_2026,
    )
    assert price is not None and price.input == 1.0 and price.cached_input == 0.20
    assert price.source.startswith("the spec's [pricing] over ")
    # one key alone changes only that rate
    cached = price_for(
        "gemini-3.1-pro-preview", {"cached_input_per_million": 0.1}, on=DEC_2026
    )
    assert cached is not None and cached.input == 2.0 and cached.cached_input == 0.1


def test_override_wins_over_every_step() -> None:
    for day in (date(2026, 11, 1), date(2027, 3, 1)):
        price = price_for("gemini-3.8-flash", {"output_per_million": 5.0}, on=day)
        assert price is not None and price.output == 5.0


def test_an_input_override_stands_for_audio_unless_audio_is_given() -> None:
    plain = price_for("gemini-3-flash-preview", {"input_per_million": 0.2}, on=DEC_2026)
    assert plain is not None and plain.input_audio is None
    both = price_for(
        "gemini-3-flash-preview",
        {"input_per_million": 0.2, "input_audio_per_million": 0.7},
        on=DEC_2026,
    )
    assert both is not None and both.input_audio == 0.7


def test_unknown_model_priced_only_from_a_full_override() -> None:
    assert price_for("aggregator-x", {"input_per_million": 1.0}) is None
    price = price_for(
        "aggregator-x", {"input_per_million": 1.0, "output_per_million": 5.0}
    )
    assert price is not None and price.output == 5.0
    assert price.source == "the spec's [pricing]"


def test_an_aggregators_per_image_price() -> None:
    price = Price(input=1.0, output=4.0, per_image=0.03)
    assert cost_usd(Usage(input_tokens=1_000_000), price, images=2) == pytest.approx(
        1.06
    )


def test_a_day_outside_a_schedule_takes_its_nearest_end() -> None:
    from dataclasses import replace

    from pipeline.catalog import ModelInfo
    from pipeline.catalog._pricing import _step

    early = Price(1.0, 2.0, valid_from=date(2026, 1, 1), valid_until=date(2026, 6, 30))
    late = Price(3.0, 4.0, valid_from=date(2026, 7, 1), valid_until=date(2026, 12, 31))
    info = ModelInfo("m", "text", "M", 1, 1, prices=(early, late))
    assert _step(info, date(2025, 1, 1)) is early
    assert _step(info, date(2026, 7, 1)) is late
    assert _step(info, date(2030, 1, 1)) is late
    assert _step(replace(info, prices=(early,)), date(2026, 8, 1)) is early
