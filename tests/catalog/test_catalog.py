"""The model catalog: facts from the reference, and which settings each model accepts."""

from __future__ import annotations

import pytest

from pipeline.catalog._models import check_generation, known_models, model_info
from pipeline.records import GenerationSettings


def test_gemini_31_pro_facts() -> None:
    info = model_info("gemini-3.1-pro-preview")
    assert info is not None
    assert (info.input_token_limit, info.output_token_limit) == (1_048_576, 65_536)
    assert info.thinking_levels == ("low", "medium", "high")  # no "minimal" on 3.1 Pro
    assert info.default_thinking_level == "high"
    assert not info.image_output and info.max_input_images == 3600


def test_aggregator_alias_matches_the_model_it_names() -> None:
    alias, model = (
        model_info("gemini-3.1-pro-preview-thinking"),
        model_info("gemini-3.1-pro-preview"),
    )
    assert alias is not None and model is not None
    assert alias.thinking_levels == model.thinking_levels
    assert alias.output_token_limit == model.output_token_limit
    assert alias.default_thinking_level == "high"


@pytest.mark.parametrize(
    ("model", "levels", "default"),
    [
        ("gemini-3-pro-preview", ("low", "high"), "high"),
        ("gemini-3-flash-preview", ("minimal", "low", "medium", "high"), "high"),
        (
            "gemini-3.1-flash-lite-preview",
            ("minimal", "low", "medium", "high"),
            "minimal",
        ),
    ],
)
def test_thinking_levels(model: str, levels: tuple[str, ...], default: str) -> None:
    info = model_info(model)
    assert info is not None
    assert (info.thinking_levels, info.default_thinking_level) == (levels, default)


@pytest.mark.parametrize(
    "model",
    [
        "gemini-3-pro-image-preview",
        "gemini-3-pro-image",
        "gemini-3.1-flash-image-preview",
    ],
)
def test_image_models(model: str) -> None:
    info = model_info(model)
    assert info is not None
    assert info.image_output and info.max_input_images == 14
    assert (
        info.thinking_levels == () and info.default_thinking_level is None
    )  # thinking is always on
    assert "1K" in info.image_sizes and "16:9" in info.aspect_ratios
    assert info.output_token_limit == 32_768


def test_pro_image_limits_and_flash_image_extras() -> None:
    pro = model_info("gemini-3-pro-image")
    flash = model_info("gemini-3.1-flash-image-preview")
    assert pro is not None and flash is not None
    assert (pro.input_token_limit, pro.output_token_limit) == (65_536, 32_768)
    assert "512" not in pro.image_sizes and "512" in flash.image_sizes
    assert "8:1" not in pro.aspect_ratios and "8:1" in flash.aspect_ratios


def test_unknown_models_and_the_models_prefix() -> None:
    assert model_info("acme/gpt-gemini-mix") is None
    assert model_info("models/gemini-3-flash-preview") == model_info(
        "gemini-3-flash-preview"
    )
    assert "gemini-3.1-pro-preview" in known_models()


@pytest.mark.parametrize(
    ("model", "settings", "key"),
    [
        (
            "gemini-3.1-pro-preview",
            GenerationSettings(thinking_level="minimal"),
            "thinking_level",
        ),
        (
            "gemini-3-pro-preview",
            GenerationSettings(thinking_level="medium"),
            "thinking_level",
        ),
        (
            "gemini-3-pro-image",
            GenerationSettings(thinking_level="low"),
            "thinking_level",
        ),
        (
            "gemini-3.1-pro-preview",
            GenerationSettings(max_output_tokens=65_537),
            "max_output_tokens",
        ),
        (
            "gemini-3-pro-image",
            GenerationSettings(max_output_tokens=32_769),
            "max_output_tokens",
        ),
        ("gemini-3-flash-preview", GenerationSettings(image_size="1K"), "image_size"),
        (
            "gemini-3-flash-preview",
            GenerationSettings(image_aspect_ratio="1:1"),
            "image_aspect_ratio",
        ),
        (
            "gemini-3-flash-preview",
            GenerationSettings(response_modalities=("IMAGE",)),
            "response_modalities",
        ),
        ("gemini-3-pro-image", GenerationSettings(image_size="512"), "image_size"),
        (
            "gemini-3-pro-image",
            GenerationSettings(image_aspect_ratio="1:8"),
            "image_aspect_ratio",
        ),
    ],
)
def test_check_generation_names_the_setting(
    model: str, settings: GenerationSettings, key: str
) -> None:
    problem = check_generation(settings, model)
    assert problem is not None
    assert problem[0] == key and model in problem[1]


@pytest.mark.parametrize(
    ("model", "settings"),
    [
        (
            "gemini-3-flash-preview",
            GenerationSettings(thinking_level="minimal", max_output_tokens=65_536),
        ),
        (
            "gemini-3-pro-image",
            GenerationSettings(image_size="4K", response_modalities=("TEXT", "IMAGE")),
        ),
        (
            "gemini-3.1-flash-image",
            GenerationSettings(image_size="512", image_aspect_ratio="1:8"),
        ),
        (
            "someone-elses-model",
            GenerationSettings(thinking_level="minimal", image_size="4K"),
        ),
        ("gemini-3.1-pro-preview", GenerationSettings(response_modalities=("TEXT",))),
    ],
)
def test_check_generation_accepts_what_the_model_takes(
    model: str, settings: GenerationSettings
) -> None:
    assert check_generation(settings, model) is None
