"""The OpenAI-compatible front doors: /v1/ (aggregator flavour) and /v1beta/openai/ (Google's flavour)."""

from __future__ import annotations

import base64
import io
import json
import struct
import wave

import pytest
from emuhelp import FLASH, IMAGE, KEY, PRO, Emu, MakeEmu
from PIL import Image

GOOGLE = "/v1beta/openai"


def chat(text: object, model: str = FLASH, **extra: object) -> dict[str, object]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": text},
        ],
        **extra,
    }


async def test_aggregator_chat_completion_with_usage_details(emu: Emu) -> None:
    status, reply, _ = await emu.openai(
        "/chat/completions", chat("hello there", model=PRO, max_completion_tokens=8000)
    )
    assert status == 200 and reply["object"] == "chat.completion"
    choice = reply["choices"][0]
    assert (
        choice["message"]["content"].startswith('Reply to "hello there":')
        and choice["finish_reason"] == "stop"
    )
    usage = reply["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning >= 1000 and usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert (
        usage["completion_tokens"]
        == json.loads(json.dumps(usage))["completion_tokens"]
        >= reasoning
    )


async def test_google_flavour_excludes_thinking_from_completion_tokens(
    emu: Emu,
) -> None:
    status, reply, _ = await emu.openai(
        "/chat/completions", chat("hello", model=PRO), prefix=GOOGLE
    )
    usage = reply["usage"]
    assert status == 200 and set(usage) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    }
    assert usage["total_tokens"] > usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize(
    ("effort", "low", "high"),
    [("low", 100, 300), ("medium", 400, 1000), ("high", 1000, 3000)],
)
async def test_reasoning_effort_maps_to_thinking_levels(
    emu: Emu, effort: str, low: int, high: int
) -> None:
    _, reply, _ = await emu.openai(
        "/chat/completions", chat("x", reasoning_effort=effort)
    )
    assert (
        low <= reply["usage"]["completion_tokens_details"]["reasoning_tokens"] <= high
    )


async def test_minimal_effort_on_pro_maps_to_low_and_bad_effort_is_400(
    emu: Emu,
) -> None:
    _, reply, _ = await emu.openai(
        "/chat/completions", chat("x", model=PRO, reasoning_effort="minimal")
    )
    assert 100 <= reply["usage"]["completion_tokens_details"]["reasoning_tokens"] <= 300
    status, reply, _ = await emu.openai(
        "/chat/completions", chat("x", reasoning_effort="max")
    )
    assert status == 400 and reply["error"]["type"] == "invalid_request_error"


async def test_thinking_config_in_extra_body_and_exclusive_with_effort(
    emu: Emu,
) -> None:
    google = {
        "google": {
            "thinking_config": {"thinking_level": "low", "include_thoughts": True}
        }
    }
    _, reply, _ = await emu.openai("/chat/completions", chat("x", extra_body=google))
    assert reply["choices"][0]["message"]["reasoning"]
    status, _, _ = await emu.openai(
        "/chat/completions", chat("x", extra_body=google, reasoning_effort="low")
    )
    assert status == 400


async def test_thinking_alias_only_on_the_aggregator(emu: Emu) -> None:
    status, reply, _ = await emu.openai(
        "/chat/completions", chat("x", model="gemini-3.1-pro-preview-thinking")
    )
    assert status == 200 and reply["model"] == "gemini-3.1-pro-preview-thinking"
    assert reply["usage"]["completion_tokens_details"]["reasoning_tokens"] >= 1000
    status, reply, _ = await emu.openai(
        "/chat/completions",
        chat("x", model="gemini-3.1-pro-preview-thinking"),
        prefix=GOOGLE,
    )
    assert (
        status == 404
        and isinstance(reply, list)
        and reply[0]["error"]["status"] == "NOT_FOUND"
    )


async def test_unknown_model_error_shapes(emu: Emu) -> None:
    status, reply, _ = await emu.openai("/chat/completions", chat("x", model="gpt-9"))
    assert status == 404 and set(reply["error"]) == {"message", "type", "param", "code"}
    assert reply["error"]["code"] == "model_not_found"


async def test_json_schema_response_format(emu: Emu) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
    }
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": schema, "strict": True},
    }
    _, reply, _ = await emu.openai("/chat/completions", chat("x", response_format=fmt))
    assert isinstance(json.loads(reply["choices"][0]["message"]["content"])["a"], int)
    _, reply, _ = await emu.openai(
        "/chat/completions", chat("x", response_format={"type": "json_object"})
    )
    assert isinstance(json.loads(reply["choices"][0]["message"]["content"]), dict)


async def test_tool_calls(emu: Emu) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}},
                    "required": ["q"],
                },
            },
        }
    ]
    _, reply, _ = await emu.openai(
        "/chat/completions", chat("please call:lookup", tools=tools)
    )
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup" and "q" in json.loads(
        call["function"]["arguments"]
    )


async def test_max_tokens_finish_is_length_and_limit_is_checked(emu: Emu) -> None:
    _, reply, _ = await emu.openai(
        "/chat/completions", chat("x", max_tokens=5, reasoning_effort="minimal")
    )
    assert reply["choices"][0]["finish_reason"] == "length"
    status, _, _ = await emu.openai("/chat/completions", chat("x", max_tokens=70_000))
    assert status == 400


def _png_url() -> str:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _wav() -> str:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<h", 0) * 8000)
    return base64.b64encode(out.getvalue()).decode()


async def test_multimodal_content_parts(emu: Emu) -> None:
    content = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": _png_url()}},
        {"type": "input_audio", "input_audio": {"data": _wav(), "format": "wav"}},
        {
            "type": "file",
            "file": {
                "filename": "a.txt",
                "file_data": "data:text/plain;base64,"
                + base64.b64encode(b"abcdefgh").decode(),
            },
        },
    ]
    status, reply, _ = await emu.openai("/chat/completions", chat(content))
    assert (
        status == 200 and reply["usage"]["prompt_tokens"] == 1 + 2 + 1120 + 32 + 2
    )  # look, be brief, image, 1 s, file


async def test_image_model_on_chat_returns_images(emu: Emu) -> None:
    body = chat(
        "a cat",
        model=IMAGE,
        modalities=["image", "text"],
        extra_body={
            "google": {"image_config": {"aspect_ratio": "3:2", "image_size": "1K"}}
        },
    )
    _, reply, _ = await emu.openai("/chat/completions", body)
    message = reply["choices"][0]["message"]
    url = message["images"][0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,") and message["content"]
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (
        1264,
        848,
    )


@pytest.mark.parametrize("prefix", ["/v1", GOOGLE])
async def test_images_generations(emu: Emu, prefix: str) -> None:
    status, reply, _ = await emu.openai(
        "/images/generations",
        {
            "model": IMAGE,
            "prompt": "a dog",
            "n": 2,
            "size": "1536x1024",
            "response_format": "b64_json",
        },
        prefix=prefix,
    )
    assert status == 200 and len(reply["data"]) == 2 and reply["created"]
    sizes = {
        Image.open(io.BytesIO(base64.b64decode(d["b64_json"]))).size
        for d in reply["data"]
    }
    assert sizes == {(1536, 1024)}
    assert reply["usage"]["output_tokens"] == 2 * 1120


async def test_images_need_an_image_model(emu: Emu) -> None:
    status, _, _ = await emu.openai(
        "/images/generations", {"model": FLASH, "prompt": "x"}
    )
    assert status == 400


async def test_auth_is_401_on_both_flavours(make_emu: MakeEmu) -> None:
    emu = await make_emu()
    status, reply, _ = await emu.openai("/chat/completions", chat("x"), key="bad")
    assert (
        status == 401
        and reply["error"]["code"] == "invalid_api_key"
        and "bad" not in reply["error"]["message"]
    )
    status, reply, _ = await emu.openai(
        "/chat/completions", chat("x"), key=None, prefix=GOOGLE
    )
    assert status == 401 and reply[0]["error"]["status"] == "UNAUTHENTICATED"


async def test_429_headers_on_both_flavours(make_emu: MakeEmu) -> None:
    emu = await make_emu(rpm=1, tpm=1000, window_s=2.0)
    assert (await emu.openai("/chat/completions", chat("a")))[0] == 200
    status, reply, headers = await emu.openai("/chat/completions", chat("b"))
    assert (
        status == 429
        and reply["error"]["code"] == "rate_limit_exceeded"
        and reply["error"]["type"] == "requests"
    )
    assert (
        headers["retry-after"] == "2" and 1000 < int(headers["retry-after-ms"]) <= 2000
    )
    assert (
        headers["x-ratelimit-limit-requests"] == "1"
        and headers["x-ratelimit-remaining-requests"] == "0"
    )
    assert headers["x-ratelimit-limit-tokens"] == "1000" and headers[
        "x-ratelimit-reset-requests"
    ].endswith("s")
    status, reply, headers = await emu.openai(
        "/chat/completions", chat("c"), prefix=GOOGLE
    )
    assert (
        status == 429
        and reply[0]["error"]["status"] == "RESOURCE_EXHAUSTED"
        and "retry-after" in headers
    )


async def test_directives_work_on_chat(emu: Emu) -> None:
    status, reply, headers = await emu.openai(
        "/chat/completions", chat("x [[emu:fail=429x1,retry=2s]]")
    )
    assert (
        status == 429
        and headers["retry-after"] == "2"
        and reply["error"]["code"] == "rate_limit_exceeded"
    )
    status, reply, _ = await emu.openai(
        "/chat/completions", chat("x [[emu:fail=503]]"), prefix=GOOGLE
    )
    assert status == 503 and reply[0]["error"]["status"] == "UNAVAILABLE"
    _, reply, _ = await emu.openai("/chat/completions", chat("x [[emu:finish=SAFETY]]"))
    assert (
        reply["choices"][0]["finish_reason"] == "content_filter"
        and reply["choices"][0]["message"]["content"] is None
    )


async def test_models_lists(emu: Emu) -> None:
    async with emu.session.get(
        emu.base_url + "/v1/models", headers={"Authorization": "Bearer test-key"}
    ) as resp:
        ids = [m["id"] for m in (await resp.json())["data"]]
    assert PRO in ids and "gemini-3.1-pro-preview-thinking" in ids
    async with emu.session.get(
        emu.base_url + GOOGLE + "/models", headers={"Authorization": "Bearer test-key"}
    ) as resp:
        ids = [m["id"] for m in (await resp.json())["data"]]
    assert f"models/{PRO}" in ids


async def test_stream_true_sends_one_chunk_and_done(emu: Emu) -> None:
    async with emu.session.post(
        emu.base_url + "/v1/chat/completions",
        json=chat("x", stream=True),
        headers={"Authorization": "Bearer test-key"},
    ) as resp:
        text = await resp.text()
    events = [e[6:] for e in text.split("\n\n") if e.startswith("data: ")]
    assert (
        events[-1] == "[DONE]"
        and json.loads(events[0])["object"] == "chat.completion.chunk"
    )


async def test_every_front_door_gives_the_same_reply_to_the_same_request(
    emu: Emu,
) -> None:
    """A job that switches providers must see the same text and token counts for the same row."""
    gemini = {
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "same row, any door"}]}],
        "generationConfig": {"maxOutputTokens": 4000, "thinkingConfig": {"thinkingLevel": "LOW"}},
    }  # fmt: skip
    _, native = await emu.generate(gemini, model=PRO)
    _, vertex, _ = await emu.post(
        f"/v1beta1/projects/p/locations/global/publishers/google/models/{PRO}:generateContent",
        gemini,
        key=None,
        headers={"Authorization": f"Bearer {KEY}"},
    )
    body = chat(
        [{"type": "text", "text": "same row, any door"}],
        model=PRO,
        max_completion_tokens=4000,
        reasoning_effort="low",
    )
    _, aggregator, _ = await emu.openai("/chat/completions", body)
    _, google, _ = await emu.openai("/chat/completions", body, prefix=GOOGLE)
    meta = native["usageMetadata"]
    text = native["candidates"][0]["content"]["parts"][0]["text"]
    assert vertex["candidates"][0]["content"]["parts"][0]["text"] == text
    tier = meta.pop(
        "serviceTier"
    )  # the Gemini API's served tier; Vertex says trafficType
    assert (
        tier == "standard" and vertex["usageMetadata"].pop("trafficType") == "ON_DEMAND"
    )
    assert {k: vertex["usageMetadata"][k] for k in meta} == meta
    for reply in (aggregator, google):
        assert reply["choices"][0]["message"]["content"] == text
        assert reply["usage"]["prompt_tokens"] == meta["promptTokenCount"]
        assert reply["usage"]["total_tokens"] == meta["totalTokenCount"]
    details = aggregator["usage"]["completion_tokens_details"]
    assert details["reasoning_tokens"] == meta["thoughtsTokenCount"]
    assert google["usage"]["completion_tokens"] == meta["candidatesTokenCount"]
