"""Reply details of the 2026 service: the served tier, finish messages, thought summaries, MAX_TOKENS."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from emuhelp import FLASH, IMAGE, KEY, Emu, MakeEmu, text_body

VERTEX = (
    "/v1beta1/projects/p/locations/global/publishers/google/models/{model}:{action}"
)


async def _vertex(emu: Emu, body: Any, model: str = FLASH, action: str = "generateContent") -> tuple[int, Any, Any]:  # fmt: skip
    return await emu.post(
        VERTEX.format(model=model, action=action),
        body,
        key=None,
        headers={"Authorization": f"Bearer {KEY}"},
    )


async def test_gemini_reports_the_served_tier_in_usage_and_header(emu: Emu) -> None:
    status, reply, headers = await emu.post(
        f"/v1beta/models/{FLASH}:generateContent", text_body("tiers")
    )
    assert status == 200 and reply["usageMetadata"]["serviceTier"] == "standard"
    assert headers["x-gemini-service-tier"] == "standard"
    assert "trafficType" not in reply["usageMetadata"]


async def test_stream_chunks_carry_the_tier(emu: Emu) -> None:
    async with emu.session.post(
        f"{emu.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse",
        json=text_body("stream tiers"),
        headers={"x-goog-api-key": KEY},
    ) as resp:
        assert resp.headers["x-gemini-service-tier"] == "standard"
        raw = (await resp.read()).decode()
    chunks = [
        json.loads(e[6:]) for e in raw.split("\r\n\r\n") if e.startswith("data: ")
    ]
    assert chunks and all(
        c["usageMetadata"]["serviceTier"] == "standard" for c in chunks
    )


async def test_vertex_reports_traffic_type_and_no_tier_header(emu: Emu) -> None:
    status, reply, headers = await _vertex(emu, text_body("vertex tiers"))
    assert status == 200 and reply["usageMetadata"]["trafficType"] == "ON_DEMAND"
    assert "serviceTier" not in reply["usageMetadata"]
    assert "x-gemini-service-tier" not in headers


async def test_image_replies_carry_signatures_of_realistic_size(
    make_emu: MakeEmu,
) -> None:
    emu = await make_emu()
    body = text_body("a lighthouse", responseModalities=["TEXT", "IMAGE"])
    _, reply = await emu.generate(body, model=IMAGE)
    parts = reply["candidates"][0]["content"]["parts"]
    signatures = [p["thoughtSignature"] for p in parts if "thoughtSignature" in p]
    assert len(signatures) == 2  # on the text part and on the image part
    assert all(1_099_000 <= len(s) <= 1_100_000 for s in signatures)
    assert len(base64.b64decode(signatures[0], validate=True)) > 800_000
    _, again = await emu.generate(body, model=IMAGE)
    assert (
        again["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
        == signatures[0]
    )
    _, text = await emu.generate(text_body("plain"))
    assert len(text["candidates"][0]["content"]["parts"][0]["thoughtSignature"]) < 100


async def test_signature_size_is_configurable(make_emu: MakeEmu) -> None:
    for chars, low, high in ((10_000, 9_990, 10_000), (0, 1, 100)):
        emu = await make_emu(image_signature_chars=chars)
        _, reply = await emu.generate(text_body("a boat"), model=IMAGE)
        parts = reply["candidates"][0]["content"]["parts"]
        assert all(low <= len(p["thoughtSignature"]) <= high for p in parts)
        base64.b64decode(parts[0]["thoughtSignature"], validate=True)


@pytest.mark.parametrize(
    ("reason", "message", "ratings"),
    [
        ("SAFETY", None, True),
        ("RECITATION", None, False),
        ("MALFORMED_FUNCTION_CALL", "Malformed function call: ", False),
        ("IMAGE_PROHIBITED_CONTENT", "The model output could not be generated.", True),
        ("UNEXPECTED_TOOL_CALL", None, False),
    ],
)
async def test_finish_messages_where_the_service_sends_them(
    emu: Emu, reason: str, message: str | None, ratings: bool
) -> None:
    _, reply = await emu.generate(text_body(f"[[emu:finish={reason}]]"))
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == reason and candidate["content"] == {}
    if message is None:
        assert "finishMessage" not in candidate
    else:
        assert candidate["finishMessage"].startswith(message)
    assert ("safetyRatings" in candidate) == ratings


async def test_image_safety_explains_itself(emu: Emu) -> None:
    _, reply = await emu.generate(text_body("draw [[emu:image_safety]]"), model=IMAGE)
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == "IMAGE_SAFETY"
    assert candidate["finishMessage"].startswith("Unable to show the generated image.")


async def test_function_call_turns_end_stop_with_a_message(emu: Emu) -> None:
    body = {
        "contents": [{"parts": [{"text": "call:lookup"}]}],
        "tools": [{"functionDeclarations": [{"name": "lookup"}]}],
    }
    _, reply = await emu.generate(body)
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["finishMessage"] == "Model generated function call(s)."
    _, plain = await emu.generate(text_body("no call"))
    assert "finishMessage" not in plain["candidates"][0]


async def test_max_tokens_keeps_the_text_that_fits(emu: Emu) -> None:
    config = {"thinkingConfig": {"thinkingLevel": "low", "includeThoughts": True}}
    _, full = await emu.generate(text_body("a long answer", **config))
    thoughts = full["usageMetadata"]["thoughtsTokenCount"]
    limit = thoughts + full["usageMetadata"]["candidatesTokenCount"] - 5
    _, cut = await emu.generate(
        text_body("a long answer", maxOutputTokens=limit, **config)
    )
    usage = cut["usageMetadata"]
    candidate = cut["candidates"][0]
    assert (
        candidate["finishReason"] == "MAX_TOKENS" and "finishMessage" not in candidate
    )
    thought, text = candidate["content"]["parts"]
    assert thought["thought"] is True and thought["text"]
    full_text = full["candidates"][0]["content"]["parts"][1]["text"]
    assert full_text.startswith(text["text"]) and len(text["text"]) < len(full_text)
    assert usage["thoughtsTokenCount"] == thoughts  # thinking counts against the limit
    assert usage["candidatesTokenCount"] + thoughts == limit
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + limit


async def test_thought_summaries_only_with_include_thoughts(emu: Emu) -> None:
    level = {"thinkingLevel": "medium"}
    _, without = await emu.generate(text_body("why", thinkingConfig=level))
    _, with_ = await emu.generate(
        text_body("why", thinkingConfig={**level, "includeThoughts": True})
    )
    assert not any(
        p.get("thought") for p in without["candidates"][0]["content"]["parts"]
    )
    parts = with_["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and "thoughtSignature" not in parts[0]
    assert (
        with_["usageMetadata"]["thoughtsTokenCount"]
        == without["usageMetadata"]["thoughtsTokenCount"]
        >= 400
    )


async def test_block_reason_message_only_on_vertex(emu: Emu) -> None:
    body = text_body("[[emu:block=SAFETY]]")
    _, gemini = await emu.generate(body)
    assert gemini["promptFeedback"]["blockReason"] == "SAFETY"
    assert "blockReasonMessage" not in gemini["promptFeedback"]
    _, vertex, _ = await _vertex(emu, body)
    assert vertex["promptFeedback"]["blockReasonMessage"].startswith(
        "The prompt could not be submitted."
    )
