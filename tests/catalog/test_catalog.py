"""The model catalog: facts from the reference, the lifecycle of each id, and which settings a model accepts."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.catalog import (
    CATALOG_AS_OF,
    catalog,
    catalog_listing,
    check_generation,
    image_tokens,
    is_image_model,
    known_models,
    lifecycle_notice,
    max_image_tokens,
    max_input_images,
    model_info,
    model_status,
    price_for,
)
from pipeline.records import GenerationSettings

DEC_2026 = date(2026, 12, 3)

# Reference section 1.1: the current ids of late November 2026 on the Gemini API.
CURRENT = (
    "gemini-4-argon",
    "gemini-4-carbon",
    "gemini-4-hydrogen",
    "gemini-4-neon",
    "gemini-3.8-flash",
    "gemini-3.6-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.1-flash-lite",
    "gemini-3.1-pro-preview",
    "gemini-3-flash-preview",
    "gemini-nano-banana-2.1",
    "gemini-3-pro-image",
    "gemini-3.1-flash-lite-image",
)
# Section 1.2: shut down, with the day and the recommended replacement (as printed).
SHUT_DOWN = {
    "gemini-3-pro-preview": (date(2026, 3, 9), "gemini-3.1-pro-preview"),
    "gemini-3.1-flash-lite-preview": (date(2026, 5, 25), "gemini-3.1-flash-lite"),
    "gemini-2.0-flash": (date(2026, 6, 1), "gemini-3.6-flash"),
    "gemini-2.0-flash-001": (date(2026, 6, 1), "gemini-3.6-flash"),
    "gemini-2.0-flash-lite": (date(2026, 6, 1), "gemini-3.1-flash-lite"),
    "gemini-2.0-flash-lite-001": (date(2026, 6, 1), "gemini-3.1-flash-lite"),
    "gemini-3-pro-image-preview": (date(2026, 6, 25), "gemini-3-pro-image"),
    "imagen-4.0-generate-001": (date(2026, 8, 17), "gemini-3.1-flash-image"),
    "gemini-omni-flash-preview": (date(2026, 9, 30), "gemini-omni-1.1-flash"),
    "gemini-2.5-pro-preview-05-06": (date(2025, 12, 2), "gemini-3.1-pro-preview"),
}


# --- facts ----------------------------------------------------------------------------------------------------


def test_gemini_31_pro_facts() -> None:
    info = model_info("gemini-3.1-pro-preview")
    assert info is not None
    assert (info.input_token_limit, info.output_token_limit) == (1_048_576, 65_536)
    assert info.thinking_levels == ("low", "medium", "high")  # no "minimal" on 3.1 Pro
    assert info.default_thinking_level == "high"
    assert info.kind == "text" and not info.image_output
    assert info.max_input_images == 3600 and info.min_cache_tokens == 4_096


@pytest.mark.parametrize(
    ("model", "levels", "default"),
    [
        ("gemini-4-argon", ("low", "medium", "high"), "medium"),
        ("gemini-4-hydrogen", ("low", "medium", "high", "xhigh"), "high"),
        ("gemini-4-neon", ("low", "medium", "high", "xhigh"), "high"),
        ("gemini-3.8-flash", ("low", "medium", "high"), "medium"),  # MINIMAL: a 400
        ("gemini-3.6-flash", ("minimal", "low", "medium", "high"), "medium"),
        ("gemini-3.5-flash-lite", ("minimal", "low", "medium", "high"), "minimal"),
        ("gemini-3-flash-preview", ("minimal", "low", "medium", "high"), "high"),
        ("gemini-3-pro-preview", ("low", "high"), "high"),
        ("gemini-3.1-flash-image", ("minimal", "high"), "minimal"),
        ("gemini-3-pro-image", (), None),  # always thinks
    ],
)
def test_thinking_levels(model: str, levels: tuple[str, ...], default: str) -> None:
    info = model_info(model)
    assert info is not None
    assert (info.thinking_levels, info.default_thinking_level) == (levels, default)


def test_caching_minimums() -> None:
    minimums = {
        model: info.min_cache_tokens
        for model in ("gemini-4-argon", "gemini-3.8-flash", "gemini-2.5-flash", "gemini-3-flash-preview")
        if (info := model_info(model)) is not None
    }  # fmt: skip
    assert minimums == {
        "gemini-4-argon": 4_096,
        "gemini-3.8-flash": 4_096,
        "gemini-2.5-flash": 2_048,
        "gemini-3-flash-preview": 1_024,
    }
    hydrogen = model_info("gemini-4-hydrogen")
    assert hydrogen is not None and hydrogen.explicit_cache is False


@pytest.mark.parametrize(
    "model",
    [
        "gemini-3-pro-image",
        "gemini-3.1-flash-image",
        "gemini-nano-banana-2.1",
        "gemini-3.1-flash-lite-image",
        "gemini-3-pro-image-preview",
    ],
)
def test_image_models(model: str) -> None:
    info = model_info(model)
    assert info is not None
    assert info.kind == "image" and info.image_output and info.max_input_images == 14
    assert "1K" in info.image_sizes and "16:9" in info.aspect_ratios
    assert set(info.image_tokens) == set(info.image_sizes)


def test_image_sizes_ratios_and_limits() -> None:
    pro, flash, lite = (
        model_info(m)
        for m in ("gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-3.1-flash-lite-image")
    )  # fmt: skip
    assert pro is not None and flash is not None and lite is not None
    assert (pro.input_token_limit, pro.output_token_limit) == (65_536, 32_768)
    assert (lite.input_token_limit, lite.output_token_limit) == (65_536, 4_096)
    assert "512" not in pro.image_sizes and "512" in flash.image_sizes
    assert lite.image_sizes == ("1K",)
    assert "8:1" not in pro.aspect_ratios and "8:1" in flash.aspect_ratios


@pytest.mark.parametrize(
    ("model", "size", "tokens"),
    [
        ("gemini-3-pro-image", None, 1_120),
        ("gemini-3-pro-image", "2K", 1_120),
        ("gemini-3-pro-image", "4K", 2_000),
        ("gemini-3.1-flash-image", "512", 747),
        ("gemini-3.1-flash-image", "2K", 1_680),
        ("gemini-3.1-flash-image-preview", "4K", 2_520),
        ("google/gemini-3-pro-image", "4K", 2_000),  # an aggregator's vendor prefix
        ("gemini-3-pro-image", "512", 2_000),  # a size it does not list: its largest
        (
            "nano-banana-pro",
            "4K",
            2_520,
        ),  # unknown: the largest of the current image models
    ],
)
def test_tokens_per_generated_image(model: str, size: str | None, tokens: int) -> None:
    assert image_tokens(model, size) == tokens


def test_budget_reserves_the_largest_image() -> None:
    assert max_image_tokens("gemini-3-pro-image") == 2_000
    assert max_image_tokens("gemini-3.1-flash-image") == 2_520
    assert max_image_tokens() == max_image_tokens("someone-elses-image") == 2_520


@pytest.mark.parametrize(
    ("model", "image_model"),
    [
        ("gemini-3-pro-image", True),
        ("gemini-3-pro-image-preview", True),
        ("models/gemini-3.1-flash-image", True),
        ("google/gemini-3-pro-image-preview", True),  # an aggregator's name
        ("imagen-4.0-generate-001", True),  # no "-image" in it: the catalog knows
        ("acme/flux-image-turbo", True),  # unknown: by its name
        ("gemini-3.1-pro-preview", False),
        ("nano-banana-pro", False),  # unknown and says nothing: the server is the judge
    ],
)
def test_one_rule_for_image_models(model: str, image_model: bool) -> None:
    assert is_image_model(model) is image_model


def test_input_image_caps() -> None:
    assert max_input_images("gemini-3-pro-image") == 14
    assert max_input_images("gemini-3.8-flash") == 3600
    assert max_input_images("acme/some-image-model") == 14
    assert max_input_images("acme-llm") is None


def test_unknown_models_and_the_models_prefix() -> None:
    assert model_info("acme/gpt-gemini-mix") is None
    assert model_info("models/gemini-3-flash-preview") == model_info(
        "gemini-3-flash-preview"
    )
    assert "gemini-3.1-pro-preview" in known_models()


def test_aggregator_alias_matches_the_model_it_names() -> None:
    alias, model = (
        model_info("gemini-3.1-pro-preview-thinking"),
        model_info("gemini-3.1-pro-preview"),
    )
    assert alias is not None and model is not None
    assert alias.alias_of == model.id and alias.doors == ("openai",)
    assert alias.thinking_levels == model.thinking_levels
    assert alias.output_token_limit == model.output_token_limit


# --- lifecycle ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", CURRENT)
def test_current_ids_are_served_and_priced(model: str) -> None:
    assert model_status(model, "gemini", on=DEC_2026).status in ("current", "preview")
    assert model_status(model, "vertex", on=DEC_2026).status in ("current", "preview")
    price = price_for(model, on=DEC_2026)
    assert price is not None and price.source and price.as_of is not None


@pytest.mark.parametrize(("model", "shutdown"), SHUT_DOWN.items())
def test_retired_ids(model: str, shutdown: tuple[date, str]) -> None:
    day, replacement = shutdown
    status = model_status(model, "gemini", on=DEC_2026)
    assert status.status == "shut down" and status.shutdown == day
    before = model_status(model, "gemini", on=date.fromordinal(day.toordinal() - 1))
    assert before.status != "shut down"
    info = model_info(model)
    assert info is not None and info.lifecycle.replacement == replacement


def test_a_shut_down_id_is_an_error_on_google_and_a_warning_at_an_aggregator() -> None:
    error = lifecycle_notice("gemini-3-pro-image-preview", "gemini", on=DEC_2026)
    assert error is not None and error.level == "error"
    assert (
        error.message
        == "gemini-3-pro-image-preview was shut down on 2026-06-25; use gemini-3-pro-image"
    )
    vertex = lifecycle_notice("gemini-3-pro-image-preview", "vertex", on=DEC_2026)
    assert (
        vertex is not None
        and vertex.level == "error"
        and "gemini-3-pro-image" in vertex.message
    )
    aggregator = lifecycle_notice("gemini-3-pro-image-preview", "openai", on=DEC_2026)
    assert aggregator is not None and aggregator.level == "warning"
    assert "2026-06-25" in aggregator.message and "aggregator" in aggregator.message
    # An id is served until its shutdown day: the day before, it only warns.
    before = lifecycle_notice(
        "gemini-3-pro-image-preview", "gemini", on=date(2026, 6, 24)
    )
    assert before is not None and (before.level, before.reason) == (
        "warning",
        "scheduled",
    )


def test_a_replacement_that_is_gone_too_is_followed() -> None:
    # The deprecations page names gemini-3.1-flash-image-preview (shut down 2026-06-25) for 2.5 Flash Image, and
    # gemini-3.1-flash-image is deprecated for gemini-nano-banana-2.1.
    status = model_status("gemini-2.5-flash-image", "gemini", on=DEC_2026)
    assert status.replacement == "gemini-nano-banana-2.1"


def test_routed_ids_are_deprecated_and_name_the_model_that_answers() -> None:
    for model, target in (
        ("gemini-3.7-flash", "gemini-3.8-flash"),
        ("gemini-3.5-flash", "gemini-3.6-flash"),
    ):
        status = model_status(model, "gemini", on=DEC_2026)
        assert (status.status, status.routed_to) == ("deprecated", target)
        notice = lifecycle_notice(model, "gemini", on=DEC_2026)
        assert (
            notice is not None
            and notice.level == "warning"
            and target in notice.message
        )


def test_gemini_25_differs_by_door_and_by_day() -> None:
    # Gemini API: served until 2026-11-30, routed from 2026-12-01; Vertex AI: shut down.
    assert (
        model_status("gemini-2.5-pro", "gemini", on=date(2026, 11, 30)).routed_to
        is None
    )
    routed = model_status("gemini-2.5-pro", "gemini", on=DEC_2026)
    assert routed.routed_to == "gemini-3.8-flash"
    assert (
        model_status("gemini-2.5-flash", "gemini", on=DEC_2026).routed_to
        == "gemini-3.5-flash-lite"
    )
    assert (
        model_status("gemini-2.5-flash-lite", "gemini", on=DEC_2026).status == "current"
    )
    vertex = lifecycle_notice("gemini-2.5-flash-lite", "vertex", on=DEC_2026)
    assert (
        vertex is not None
        and vertex.level == "error"
        and "by 2026-11-17" in vertex.message
    )


def test_scheduled_and_deprecated_ids_warn() -> None:
    scheduled = lifecycle_notice("gemini-3.1-flash-lite", "gemini", on=DEC_2026)
    assert scheduled is not None and scheduled.reason == "scheduled"
    assert (
        "2027-05-07" in scheduled.message
        and "gemini-3.5-flash-lite" in scheduled.message
    )
    deprecated = lifecycle_notice("gemini-3.1-flash-image", "gemini", on=DEC_2026)
    assert deprecated is not None and deprecated.reason == "deprecated"
    assert "gemini-nano-banana-2.1" in deprecated.message


def test_unknown_ids_and_aliases_warn() -> None:
    unknown = lifecycle_notice("gemini-5-krypton", "gemini", on=DEC_2026)
    assert (
        unknown is not None
        and unknown.level == "warning"
        and unknown.reason == "unknown"
    )
    assert str(CATALOG_AS_OF) in unknown.message
    alias = lifecycle_notice("gemini-3.1-pro-preview-thinking", "gemini", on=DEC_2026)
    assert alias is not None and alias.reason == "alias"
    assert (
        lifecycle_notice("gemini-3.1-pro-preview-thinking", "openai", on=DEC_2026)
        is None
    )


def test_catalog_by_door_and_listing() -> None:
    assert "gemini-3.1-pro-preview-thinking" not in {
        info.id for info in catalog("gemini")
    }
    assert "gemini-3.1-pro-preview-thinking" in {info.id for info in catalog("openai")}
    rows = {row["id"]: row for row in catalog_listing("gemini", on=DEC_2026)}
    flash = rows["gemini-3.8-flash"]
    assert (flash["status"], flash["input"], flash["output"]) == ("current", 0.75, 3.75)
    assert (flash["batch_input"], flash["flex_output"]) == (0.375, 1.875)
    gone = rows["gemini-3-pro-image-preview"]
    assert (gone["status"], gone["shutdown"], gone["replacement"]) == (
        "shut down",
        "2026-06-25",
        "gemini-3-pro-image",
    )
    assert rows["gemini-3-pro-image"]["image_1k_usd"] == pytest.approx(0.1344)


# --- settings -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "settings", "key"),
    [
        ("gemini-3.1-pro-preview", GenerationSettings(thinking_level="minimal"), "thinking_level"),
        ("gemini-3.8-flash", GenerationSettings(thinking_level="minimal"), "thinking_level"),
        ("gemini-4-argon", GenerationSettings(thinking_level="xhigh"), "thinking_level"),
        ("gemini-3-pro-preview", GenerationSettings(thinking_level="medium"), "thinking_level"),
        ("gemini-3-pro-image", GenerationSettings(thinking_level="low"), "thinking_level"),
        ("gemini-3.1-flash-image", GenerationSettings(thinking_level="low"), "thinking_level"),
        ("gemini-3.1-pro-preview", GenerationSettings(max_output_tokens=65_537), "max_output_tokens"),
        ("gemini-3-pro-image", GenerationSettings(max_output_tokens=32_769), "max_output_tokens"),
        ("gemini-3.1-flash-lite-image", GenerationSettings(max_output_tokens=4_097), "max_output_tokens"),
        ("gemini-3-flash-preview", GenerationSettings(image_size="1K"), "image_size"),
        ("gemini-3-flash-preview", GenerationSettings(image_aspect_ratio="1:1"), "image_aspect_ratio"),
        ("gemini-3-flash-preview", GenerationSettings(response_modalities=("IMAGE",)), "response_modalities"),
        ("gemini-3-pro-image", GenerationSettings(image_size="512"), "image_size"),
        ("gemini-3.1-flash-lite-image", GenerationSettings(image_size="2K"), "image_size"),
        ("gemini-3-pro-image", GenerationSettings(image_aspect_ratio="1:8"), "image_aspect_ratio"),
    ],
)  # fmt: skip
def test_check_generation_names_the_setting(
    model: str, settings: GenerationSettings, key: str
) -> None:
    problem = check_generation(settings, model)
    assert problem is not None
    assert problem[0] == key and model in problem[1]


@pytest.mark.parametrize(
    ("model", "settings"),
    [
        ("gemini-3-flash-preview", GenerationSettings(thinking_level="minimal", max_output_tokens=65_536)),
        ("gemini-4-hydrogen", GenerationSettings(thinking_level="xhigh")),
        ("gemini-3.1-flash-image", GenerationSettings(thinking_level="high", image_size="512")),
        ("gemini-3-pro-image", GenerationSettings(image_size="4K", response_modalities=("TEXT", "IMAGE"))),
        ("gemini-3.1-flash-image", GenerationSettings(image_size="512", image_aspect_ratio="1:8")),
        ("someone-elses-model", GenerationSettings(thinking_level="minimal", image_size="4K")),
        ("gemini-3.1-pro-preview", GenerationSettings(response_modalities=("TEXT",))),
    ],
)  # fmt: skip
def test_check_generation_accepts_what_the_model_takes(
    model: str, settings: GenerationSettings
) -> None:
    assert check_generation(settings, model) is None
