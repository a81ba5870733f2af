"""Fidelity: the official google-genai and openai SDKs drive service tiers and context caches."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import openai
import pytest
from emuhelp import FLASH, KEY
from google import genai
from google.genai import errors, types

from pipeline.emulator import EmulatorConfig, EmulatorThread

DOC = "word " * 1200  # 1,500 tokens


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    config = EmulatorConfig(
        port=0,
        api_key=KEY,
        flex_latency_s=0.05,
        priority_allowance_rpm=1,
        window_s=60.0,
    )
    with EmulatorThread(config) as server:
        yield server


@pytest.fixture
def client(emu: EmulatorThread) -> genai.Client:
    return genai.Client(
        api_key=KEY, http_options=types.HttpOptions(base_url=emu.base_url)
    )


def test_caches_lifecycle_and_generate(client: genai.Client) -> None:
    cache = client.caches.create(
        model=FLASH,
        config=types.CreateCachedContentConfig(
            contents=[types.Content(role="user", parts=[types.Part(text=DOC)])],
            system_instruction="Answer briefly.",
            display_name="doc",
            ttl="300s",
        ),
    )
    assert cache.name and cache.name.startswith("cachedContents/")
    assert cache.model == f"models/{FLASH}" and cache.display_name == "doc"
    assert (
        cache.usage_metadata is not None
        and cache.usage_metadata.total_token_count == 1504
    )
    assert cache.create_time and cache.expire_time
    assert cache.expire_time - cache.create_time == datetime.timedelta(seconds=300)

    assert client.caches.get(name=cache.name).name == cache.name
    assert cache.name in [c.name for c in client.caches.list()]
    updated = client.caches.update(
        name=cache.name, config=types.UpdateCachedContentConfig(ttl="7200s")
    )
    assert updated.expire_time and updated.update_time
    assert updated.expire_time - updated.update_time == datetime.timedelta(seconds=7200)

    reply = client.models.generate_content(
        model=FLASH,
        contents="What is it about?",
        config=types.GenerateContentConfig(cached_content=cache.name),
    )
    usage = reply.usage_metadata
    assert usage is not None and usage.cached_content_token_count == 1504
    assert usage.prompt_token_count == 1504 + 5
    assert (
        usage.cache_tokens_details and usage.cache_tokens_details[0].token_count == 1504
    )

    with pytest.raises(errors.ClientError) as both:
        client.models.generate_content(
            model=FLASH,
            contents="x",
            config=types.GenerateContentConfig(
                cached_content=cache.name, system_instruction="again"
            ),
        )
    assert both.value.code == 400

    client.caches.delete(name=cache.name)
    with pytest.raises(errors.ClientError) as gone:
        client.caches.get(name=cache.name)
    assert (gone.value.code, gone.value.status) == (403, "PERMISSION_DENIED")


def test_too_small_cache_raises(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as small:
        client.caches.create(
            model=FLASH, config=types.CreateCachedContentConfig(contents="tiny")
        )
    assert small.value.code == 400 and "min_total_token_count=1024" in str(small.value)


def test_service_tier_with_the_sdk(client: genai.Client) -> None:
    flex = client.models.generate_content(
        model=FLASH,
        contents="flex row",
        config=types.GenerateContentConfig(service_tier=types.ServiceTier.FLEX),
    )
    assert (
        flex.sdk_http_response is not None
        and flex.sdk_http_response.headers is not None
    )
    assert flex.sdk_http_response.headers["x-gemini-service-tier"] == "flex"
    served = []
    for i in range(2):
        reply = client.models.generate_content(
            model=FLASH,
            contents=f"priority row {i}",
            config=types.GenerateContentConfig(service_tier=types.ServiceTier.PRIORITY),
        )
        assert reply.sdk_http_response is not None and reply.sdk_http_response.headers
        served.append(reply.sdk_http_response.headers["x-gemini-service-tier"])
    assert served == ["priority", "standard"]  # the allowance is one a minute


def test_openai_sdk_service_tier(emu: EmulatorThread) -> None:
    with openai.OpenAI(
        base_url=emu.base_url + "/v1beta/openai", api_key=KEY, max_retries=0
    ) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=FLASH,
            messages=[{"role": "user", "content": "hi"}],
            service_tier="flex",
        )
    assert raw.headers["x-gemini-service-tier"] == "flex"
    assert raw.parse().service_tier == "flex"
