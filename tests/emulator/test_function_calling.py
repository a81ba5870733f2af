"""Function calling modes (toolConfig.functionCallingConfig), OpenAI's tool_choice, and the strict
key check of Google's OpenAI-compatible route."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from emuhelp import FLASH, KEY, Emu, text_body

from pipeline.emulator import EmulatorConfig, EmulatorThread

GOOGLE = "/v1beta/openai"
TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}},
                },
            },
            {"name": "get_time"},
        ]
    }
]


def _body(text: str, **config: Any) -> dict[str, Any]:
    body = text_body(text)
    body["tools"] = TOOLS
    if config:
        body["toolConfig"] = {"functionCallingConfig": config}
    return body


def _call(reply: Any) -> str | None:
    parts = reply["candidates"][0]["content"]["parts"]
    return next((p["functionCall"]["name"] for p in parts if "functionCall" in p), None)


async def test_auto_calls_only_when_asked(emu: Emu) -> None:
    assert (
        _call((await emu.generate(_body("call:get_time now", mode="AUTO")))[1])
        == "get_time"
    )
    assert _call((await emu.generate(_body("just talk", mode="auto")))[1]) is None


async def test_any_forces_a_call_within_the_allowed_names(emu: Emu) -> None:
    status, reply = await emu.generate(_body("just talk", mode="ANY"))
    assert status == 200 and _call(reply) in ("get_weather", "get_time")
    assert (
        reply["candidates"][0]["finishMessage"] == "Model generated function call(s)."
    )
    for text in ("just talk", "call:get_weather please"):
        _, reply = await emu.generate(
            _body(text, mode="ANY", allowedFunctionNames=["get_time"])
        )
        assert _call(reply) == "get_time"


async def test_none_forbids_calls(emu: Emu) -> None:
    _, reply = await emu.generate(_body("call:get_time now", mode="NONE"))
    assert _call(reply) is None
    assert reply["candidates"][0]["content"]["parts"][0]["text"].startswith("Reply to")


async def test_validated_keeps_calls_within_the_allowed_names(emu: Emu) -> None:
    body = _body(
        "call:get_weather", mode="VALIDATED", allowedFunctionNames=["get_time"]
    )
    assert _call((await emu.generate(body))[1]) is None
    body = _body("call:get_time", mode="VALIDATED", allowedFunctionNames=["get_time"])
    assert _call((await emu.generate(body))[1]) == "get_time"


@pytest.mark.parametrize(
    "config",
    [
        {"mode": "AUTO", "allowedFunctionNames": ["get_time"]},
        {"mode": "NONE", "allowedFunctionNames": ["get_time"]},
        {"allowedFunctionNames": ["get_time"]},
        {"mode": "ANY", "allowedFunctionNames": ["nope"]},
        {"mode": "SOMETIMES"},
        {"mode": "ANY", "bogus": 1},
    ],
)
async def test_bad_function_calling_configs_are_400(
    emu: Emu, config: dict[str, Any]
) -> None:
    status, reply = await emu.generate(_body("x", **config))
    assert status == 400 and reply["error"]["status"] == "INVALID_ARGUMENT"


async def test_any_without_declarations_is_400(emu: Emu) -> None:
    body = text_body("x")
    body["toolConfig"] = {"function_calling_config": {"mode": "ANY"}}
    assert (await emu.generate(body))[0] == 400


def _chat(content: str, **extra: Any) -> dict[str, Any]:
    tools = [
        {
            "type": "function",
            "function": {"name": "get_time", "parameters": {"type": "object"}},
        },
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}},
        },
    ]
    return {"model": FLASH, "messages": [{"role": "user", "content": content}], "tools": tools, **extra}  # fmt: skip


@pytest.mark.parametrize("prefix", ["/v1", GOOGLE])
async def test_tool_choice_on_both_openai_routes(emu: Emu, prefix: str) -> None:
    _, reply, _ = await emu.openai("/chat/completions", _chat("hello", tool_choice="required"), prefix=prefix)  # fmt: skip
    assert reply["choices"][0]["finish_reason"] == "tool_calls"
    named = {"type": "function", "function": {"name": "get_weather"}}
    _, reply, _ = await emu.openai("/chat/completions", _chat("call:get_time", tool_choice=named), prefix=prefix)  # fmt: skip
    assert (
        reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
        == "get_weather"
    )
    _, reply, _ = await emu.openai("/chat/completions", _chat("call:get_time", tool_choice="none"), prefix=prefix)  # fmt: skip
    assert reply["choices"][0]["finish_reason"] == "stop"
    _, reply, _ = await emu.openai("/chat/completions", _chat("call:get_time", tool_choice="auto"), prefix=prefix)  # fmt: skip
    assert (
        reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
        == "get_time"
    )
    status, _, _ = await emu.openai("/chat/completions", _chat("x", tool_choice="always"), prefix=prefix)  # fmt: skip
    assert status == 400


async def test_google_route_rejects_keys_it_does_not_support(emu: Emu) -> None:
    body = {"model": FLASH, "messages": [{"role": "user", "content": "hi"}], "google": {}, "user": "u1"}  # fmt: skip
    status, reply, _ = await emu.openai("/chat/completions", body, prefix=GOOGLE)
    first = 'Invalid JSON payload received. Unknown name "google": Cannot find field.'
    second = 'Invalid JSON payload received. Unknown name "user": Cannot find field.'
    assert status == 400 and reply == [
        {
            "error": {
                "code": 400,
                "message": f"{first}\n{second}",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [
                            {"description": first},
                            {"description": second},
                        ],
                    }
                ],
            }
        }
    ]
    status, reply, _ = await emu.openai(
        "/chat/completions", dict(body, extra_body={"gogle": {}}), prefix=GOOGLE
    )
    assert status == 400 and "at 'extra_body'" in reply[0]["error"]["message"]
    # the aggregator is lenient, and so is Google's images endpoint (documented)
    status, _, _ = await emu.openai("/chat/completions", body)
    assert status == 200
    supported = {
        "model": FLASH,
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 500,
        "temperature": 1.0,
        "top_p": 0.9,
        "stop": ["zzz"],
        "seed": 3,
        "n": 1,
        "stream": False,
        "reasoning_effort": "low",
        "response_format": {"type": "text"},
        "service_tier": "flex",
        "extra_body": {"google": {}},
    }
    status, reply, _ = await emu.openai("/chat/completions", supported, prefix=GOOGLE)
    assert status == 200, reply


async def test_reasoning_tokens_in_each_dialect(emu: Emu) -> None:
    body = {"model": FLASH, "messages": [{"role": "user", "content": "think"}], "reasoning_effort": "medium"}  # fmt: skip
    _, google, _ = await emu.openai("/chat/completions", body, prefix=GOOGLE)
    _, aggregator, _ = await emu.openai("/chat/completions", body)
    usage = google["usage"]
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    thinking = (
        usage["total_tokens"] - usage["prompt_tokens"] - usage["completion_tokens"]
    )
    assert thinking >= 400  # only visible in total_tokens
    details = aggregator["usage"]["completion_tokens_details"]
    assert details["reasoning_tokens"] == thinking
    assert (
        aggregator["usage"]["completion_tokens"]
        == usage["completion_tokens"] + thinking
    )


def test_the_openai_sdk_with_tool_choice_and_extra_body() -> None:
    with EmulatorThread(EmulatorConfig(port=0, api_key=KEY)) as emu:
        client = openai.OpenAI(
            base_url=emu.base_url + GOOGLE, api_key=KEY, max_retries=0
        )
        tools: Any = [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]  # fmt: skip
        reply = client.chat.completions.create(
            model=FLASH,
            messages=[{"role": "user", "content": "what time is it"}],
            tools=tools,
            tool_choice="required",
        )
        assert reply.choices[0].message.tool_calls
        # extra_body={"google": ...} lands at the top level, which Google's layer refuses
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model=FLASH,
                messages=[{"role": "user", "content": "x"}],
                extra_body={"google": {"thinking_config": {"thinking_level": "low"}}},
            )
        reply = client.chat.completions.create(
            model=FLASH,
            messages=[{"role": "user", "content": "x"}],
            extra_body={
                "extra_body": {"google": {"thinking_config": {"thinking_level": "low"}}}
            },
        )
        assert (
            reply.usage is not None
            and reply.usage.total_tokens > reply.usage.prompt_tokens
        )
