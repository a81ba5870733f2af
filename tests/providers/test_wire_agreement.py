"""The three providers ask for the same thing: each body, read by the emulator's own parser (an independent
implementation of the wire formats), gives the same request whatever the provider. This is what lets a user
switch `[provider] kind` and change nothing else."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pipeline.emulator.files import FileStore
from pipeline.emulator.genrequest import GenRequest
from pipeline.emulator.models import lookup
from pipeline.emulator.openai_request import chat_request
from pipeline.emulator.request import parse_generate
from pipeline.providers import (
    GeminiProvider,
    OpenAIProvider,
    StaticCredentials,
    VertexProvider,
)
from pipeline.records import GenerationSettings, HttpRequest, Part, Prompt

SCHEMA = {
    "type": "object",
    "properties": {"total": {"type": "number"}},
    "required": ["total"],
}
TOOL = {
    "name": "lookup_vendor",
    "description": "Look up a vendor",
    "parameters": {"type": "object", "properties": {"vendor": {"type": "string"}}, "required": ["vendor"]},
}  # fmt: skip


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()


SETTINGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "sampling": {"temperature": 0.2, "top_p": 0.9, "seed": 7, "max_output_tokens": 2048, "stop_sequences": ("###",)},
    "thinking": {"thinking_level": "medium"},
    "thinking-with-thoughts": {"thinking_level": "high", "include_thoughts": True},
    "thoughts-at-the-default-level": {"include_thoughts": True},
    "json-schema": {"response_schema": SCHEMA},
    "json-object": {"response_mime_type": "application/json"},
    "tools": {"tools": (TOOL,)},
    "media-resolution": {"media_resolution": "low"},
}  # fmt: skip


def body_of(request: HttpRequest) -> Any:
    assert isinstance(request.body, bytes)
    return json.loads(request.body)


def parsed(provider: str, prompt: Prompt, files: FileStore) -> GenRequest:
    credentials = StaticCredentials("K", "authorization", "key-123456789", bearer=True)
    model = lookup(prompt.model)
    assert model is not None
    if provider == "openai":
        built = OpenAIProvider(
            model=prompt.model,
            credentials=credentials,
            base_url="http://h/v1beta/openai",
        ).build(prompt)
        return chat_request(body_of(built), "openai", files)[1]
    if provider == "vertex":
        built = VertexProvider(
            model=prompt.model, credentials=credentials, project="p"
        ).build(prompt)
    else:
        built = GeminiProvider(model=prompt.model, credentials=credentials).build(
            prompt
        )
    return parse_generate(body_of(built), model, files.resolve)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_provider_asks_the_emulator_for_the_same_thing(
    tmp_path: Path, name: str
) -> None:
    prompt = Prompt(
        row_id="r1",
        model="gemini-3-flash-preview",  # has every thinking level
        parts=(Part(mime_type="image/png", data=png()), Part(text="Summarise call:lookup_vendor the picture.")),
        generation=GenerationSettings(**SETTINGS[name]),
        system="You are brief.",
    )  # fmt: skip
    files = FileStore(tmp_path, 0)
    gemini = parsed("gemini", prompt, files)
    assert parsed("vertex", prompt, files) == gemini
    assert parsed("openai", prompt, files) == gemini


def test_thought_summaries_never_send_reasoning_effort_with_thinking_config() -> None:
    """Google's compatibility layer refuses the two together (400 on every row)."""
    credentials = StaticCredentials("K", "authorization", "key-123456789", bearer=True)
    provider = OpenAIProvider(
        model="gemini-3.1-pro-preview",
        credentials=credentials,
        base_url="https://generativelanguage.googleapis.com/v1beta/openai",
    )

    def body(**settings: Any) -> dict[str, Any]:
        prompt = Prompt(
            "r",
            "gemini-3.1-pro-preview",
            (Part(text="hi"),),
            GenerationSettings(**settings),
        )
        return body_of(provider.build(prompt))

    assert body(thinking_level="low")["reasoning_effort"] == "low"
    assert "extra_body" not in body(thinking_level="low")
    both = body(thinking_level="low", include_thoughts=True)
    assert "reasoning_effort" not in both
    assert both["extra_body"]["google"]["thinking_config"] == {
        "thinking_level": "low",
        "include_thoughts": True,
    }


def test_aggregators_get_plain_openai_and_google_gets_its_dialect() -> None:
    credentials = StaticCredentials("K", "authorization", "key-123456789", bearer=True)
    settings = GenerationSettings(
        thinking_level="low", include_thoughts=True, media_resolution="low"
    )
    prompt = Prompt("r", "gemini-3.1-pro-preview", (Part(text="hi"),), settings)

    def body(base_url: str) -> dict[str, Any]:
        provider = OpenAIProvider(
            model="gemini-3.1-pro-preview", credentials=credentials, base_url=base_url
        )
        return body_of(provider.build(prompt))

    aggregator = body("https://api.aggregator.example/v1")
    assert "extra_body" not in aggregator and aggregator["reasoning_effort"] == "low"
    image = Prompt(
        "r",
        "gemini-3-pro-image",
        (Part(text="a lighthouse"),),
        GenerationSettings(
            image_size="2K", image_aspect_ratio="16:9", include_thoughts=True
        ),
    )
    resold = body_of(
        OpenAIProvider(
            model="gemini-3-pro-image",
            credentials=credentials,
            base_url="https://api.aggregator.example/v1",
        ).build(image)
    )
    assert resold["extra_body"] == {
        "google": {"image_config": {"aspect_ratio": "16:9", "image_size": "2K"}}
    }
    google = body("https://generativelanguage.googleapis.com/v1beta/openai/")
    assert set(google["extra_body"]["google"]) == {
        "thinking_config",
        "generation_config",
    }
    assert "reasoning_effort" not in google


@pytest.mark.parametrize(
    ("mode", "names", "choice"),
    [
        ("AUTO", (), "auto"),
        ("NONE", (), "none"),
        ("ANY", (), "required"),
        ("ANY", ("lookup_vendor",), {"type": "function", "function": {"name": "lookup_vendor"}}),
        ("VALIDATED", (), "auto"),
    ],
)  # fmt: skip
def test_function_calling_modes_on_both_wire_formats(
    mode: str, names: tuple[str, ...], choice: object
) -> None:
    credentials = StaticCredentials("K", "authorization", "key-123456789", bearer=True)
    settings = GenerationSettings(
        tools=(TOOL,), function_calling_mode=mode, allowed_function_names=names
    )
    prompt = Prompt("r", "gemini-3.1-pro-preview", (Part(text="hi"),), settings)
    gemini = body_of(
        GeminiProvider(model=prompt.model, credentials=credentials).build(prompt)
    )
    expected: dict[str, object] = {"mode": mode}
    if names:
        expected["allowedFunctionNames"] = list(names)
    assert gemini["toolConfig"] == {"functionCallingConfig": expected}
    chat = body_of(
        OpenAIProvider(
            model=prompt.model, credentials=credentials, base_url="https://x.example/v1"
        ).build(prompt)
    )
    assert chat["tool_choice"] == choice


def test_with_a_cache_the_tool_config_travels_in_the_cache() -> None:
    from pipeline.providers._caches import cache_body

    credentials = StaticCredentials("K", "x-goog-api-key", "key-123456789")
    settings = GenerationSettings(tools=(TOOL,), function_calling_mode="ANY")
    prompt = Prompt(
        "r", "gemini-3.1-pro-preview", (Part(text="hi"),), settings,
        cached_content="cachedContents/abc",
    )  # fmt: skip
    body = body_of(
        GeminiProvider(model=prompt.model, credentials=credentials).build(prompt)
    )
    assert "toolConfig" not in body and "tools" not in body
    cache = cache_body(
        prompt, model="models/gemini-3.1-pro-preview", ttl_s=60, display_name="d"
    )
    assert cache["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
