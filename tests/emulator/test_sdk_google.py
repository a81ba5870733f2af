"""Fidelity: the official google-genai SDK talks to the emulator as it talks to the service."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from emuhelp import FLASH, IMAGE, KEY, PRO
from google import genai
from google.genai import errors, types
from PIL import Image
from pydantic import BaseModel

from pipeline.emulator import EmulatorConfig, EmulatorThread


class Recipe(BaseModel):
    name: str
    servings: int
    steps: list[str]


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorConfig(port=0, api_key=KEY)) as server:
        yield server


@pytest.fixture
def client(emu: EmulatorThread) -> genai.Client:
    return genai.Client(
        api_key=KEY, http_options=types.HttpOptions(base_url=emu.base_url)
    )


def test_generate_with_thinking_config(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(
            thinking_level=types.ThinkingLevel.LOW, include_thoughts=True
        )
    )
    reply = client.models.generate_content(
        model=PRO, contents="Explain tides", config=config
    )
    assert reply.text is not None and reply.text.startswith('Reply to "Explain tides":')
    parts = reply.candidates[0].content.parts  # type: ignore[index, union-attr]
    assert parts[0].thought is True  # type: ignore[index]
    usage = reply.usage_metadata
    assert usage is not None and 100 <= (usage.thoughts_token_count or 0) <= 300
    assert usage.total_token_count == (usage.prompt_token_count or 0) + (
        usage.candidates_token_count or 0
    ) + (usage.thoughts_token_count or 0)
    assert reply.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]


def test_generate_with_response_schema_parsed(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=Recipe
    )
    reply = client.models.generate_content(
        model=FLASH, contents="A soup", config=config
    )
    assert isinstance(reply.parsed, Recipe) and reply.parsed.steps


def test_generate_with_response_json_schema(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_json_schema=Recipe.model_json_schema(),
    )
    reply = client.models.generate_content(
        model=FLASH, contents="A stew", config=config
    )
    Recipe.model_validate(reply.parsed)


def test_image_generation_with_config(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio="9:16", image_size="2K"),
    )
    reply = client.models.generate_content(
        model=IMAGE, contents="A tall tower", config=config
    )
    images = [p.inline_data for p in reply.candidates[0].content.parts if p.inline_data]  # type: ignore[index, union-attr]
    assert len(images) == 1 and images[0].mime_type == "image/jpeg"
    image = Image.open(io.BytesIO(images[0].data))  # type: ignore[arg-type]
    assert (
        image.size == (1536, 2752) and abs(image.width / image.height - 9 / 16) < 0.01
    )
    assert reply.usage_metadata.candidates_tokens_details[0].token_count == 1120  # type: ignore[index, union-attr]


def test_count_tokens(client: genai.Client) -> None:
    assert (
        client.models.count_tokens(model=FLASH, contents="twelve chars").total_tokens
        == 3
    )


def test_upload_a_file_and_use_it(client: genai.Client, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("a" * 800)
    file = client.files.upload(file=path)
    assert file.state == types.FileState.ACTIVE and file.size_bytes == 800
    reply = client.models.generate_content(model=FLASH, contents=[file, "Summarise"])
    assert reply.usage_metadata.prompt_token_count == 200 + 3  # type: ignore[union-attr]
    assert client.files.get(name=file.name).name == file.name  # type: ignore[arg-type]
    assert file.name in [f.name for f in client.files.list()]
    client.files.delete(name=file.name)  # type: ignore[arg-type]


def test_errors_raise_the_right_sdk_classes(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as not_found:
        client.models.generate_content(model="gemini-0-nope", contents="x")
    assert (not_found.value.code, not_found.value.status) == (404, "NOT_FOUND")
    with pytest.raises(errors.ClientError) as limited:
        client.models.generate_content(
            model=FLASH, contents="x [[emu:fail=429,retry=none]]"
        )
    assert (limited.value.code, limited.value.status) == (429, "RESOURCE_EXHAUSTED")
    with pytest.raises(errors.ServerError) as overloaded:
        client.models.generate_content(model=FLASH, contents="x [[emu:fail=503]]")
    assert (overloaded.value.code, overloaded.value.status) == (503, "UNAVAILABLE")
    bad = genai.Client(
        api_key="wrong",
        http_options=types.HttpOptions(
            base_url=client._api_client._http_options.base_url
        ),
    )
    with pytest.raises(errors.ClientError) as invalid_key:
        bad.models.generate_content(model=FLASH, contents="x")
    assert (invalid_key.value.code, invalid_key.value.status) == (
        400,
        "INVALID_ARGUMENT",
    )


def test_stream(client: genai.Client) -> None:
    chunks = list(
        client.models.generate_content_stream(model=FLASH, contents="stream please")
    )
    assert (
        len(chunks) == 3
        and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    )  # type: ignore[index]
    assert "".join(c.text or "" for c in chunks).startswith('Reply to "stream please":')


def test_function_call(client: genai.Client) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    config = types.GenerateContentConfig(
        tools=[get_weather],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    reply = client.models.generate_content(
        model=FLASH, contents="call:get_weather for Paris", config=config
    )
    assert reply.function_calls and reply.function_calls[0].name == "get_weather"
