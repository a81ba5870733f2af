"""Fidelity: the official openai SDK talks to the emulator's OpenAI-compatible routes."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import openai
import pytest
from emuhelp import FLASH, IMAGE, KEY, PRO
from PIL import Image

from pipeline.emulator import EmulatorConfig, EmulatorThread


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(
        EmulatorConfig(port=0, api_key=KEY, rpm=3, window_s=30.0)
    ) as server:
        yield server


def _client(emu: EmulatorThread, prefix: str = "/v1", key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=emu.base_url + prefix, api_key=key, max_retries=0)


def test_chat_completion(emu: EmulatorThread) -> None:
    with _client(emu) as client:
        reply = client.chat.completions.create(
            model=PRO,
            messages=[{"role": "user", "content": "Hello"}],
            reasoning_effort="low",
        )
    assert reply.choices[0].message.content and reply.choices[
        0
    ].message.content.startswith('Reply to "Hello":')
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    assert 100 <= (reply.usage.completion_tokens_details.reasoning_tokens or 0) <= 300


def test_image_generation(emu: EmulatorThread) -> None:
    with _client(emu, "/v1beta/openai") as client:
        reply = client.images.generate(
            model=IMAGE, prompt="a boat", size="1024x1024", response_format="b64_json"
        )
    assert reply.data is not None
    image = Image.open(io.BytesIO(base64.b64decode(reply.data[0].b64_json or "")))
    assert image.format == "JPEG" and image.size == (1024, 1024)


def test_429_raises_rate_limit_error(emu: EmulatorThread) -> None:
    with _client(emu) as client, pytest.raises(openai.RateLimitError) as limited:
        for i in range(10):
            client.chat.completions.create(
                model=FLASH, messages=[{"role": "user", "content": f"row {i}"}]
            )
    assert limited.value.status_code == 429
    assert limited.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_wrong_key_raises_authentication_error(emu: EmulatorThread) -> None:
    with _client(emu, key="nope") as client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model=FLASH, messages=[{"role": "user", "content": "x"}]
        )
