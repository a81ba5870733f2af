"""generateContent replies: shape, determinism, usage, thinking, JSON mode, function calls, media, images."""

from __future__ import annotations

import base64
import io
import math
import struct
import wave

import jsonschema
from emuhelp import FLASH, IMAGE, PRO, Emu, text_body
from PIL import Image


async def test_reply_is_traceable_deterministic_and_well_formed(emu: Emu) -> None:
    body = text_body("Summarise the quarterly report for the board")
    status, first = await emu.generate(body, model=PRO)
    assert status == 200
    _, second = await emu.generate(body, model=PRO)
    part = first["candidates"][0]["content"]["parts"][0]
    assert part["text"].startswith(
        'Reply to "Summarise the quarterly report for the board":'
    )
    assert part["thoughtSignature"]
    assert (
        first["candidates"][0]["content"]["parts"]
        == second["candidates"][0]["content"]["parts"]
    )
    assert first["candidates"][0]["finishReason"] == "STOP"
    assert first["modelVersion"] == PRO and len(first["responseId"]) == 22
    usage = first["usageMetadata"]
    assert usage["promptTokenCount"] == math.ceil(
        len("Summarise the quarterly report for the board") / 4
    )
    assert usage["candidatesTokenCount"] == math.ceil(len(part["text"]) / 4)
    assert (
        1000 <= usage["thoughtsTokenCount"] <= 3000
    )  # 3.1 Pro thinks at HIGH by default
    assert (
        usage["totalTokenCount"]
        == usage["promptTokenCount"]
        + usage["candidatesTokenCount"]
        + usage["thoughtsTokenCount"]
    )
    assert usage["promptTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": usage["promptTokenCount"]}
    ]


async def test_snake_case_keys_and_lowercase_enums_are_accepted(emu: Emu) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {
            "max_output_tokens": 4000,
            "thinking_config": {"thinking_level": "low", "include_thoughts": True},
        },
    }
    status, reply = await emu.generate(body, model=PRO)
    assert status == 200
    parts = reply["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and "thought" not in parts[1]
    assert 100 <= reply["usageMetadata"]["thoughtsTokenCount"] <= 300
    assert reply["usageMetadata"]["promptTokenCount"] == 1 + 2  # "hi" + "be brief"


async def test_thinking_grows_with_the_level_and_minimal_has_none(emu: Emu) -> None:
    counts = {}
    for level in ("minimal", "low", "medium", "high"):
        _, reply = await emu.generate(
            text_body("think about it", thinkingConfig={"thinkingLevel": level})
        )
        counts[level] = reply["usageMetadata"].get("thoughtsTokenCount", 0)
    assert counts["minimal"] == 0 < counts["low"] < counts["medium"] < counts["high"]


async def test_thinking_budget_bounds_the_thoughts(emu: Emu) -> None:
    _, reply = await emu.generate(
        text_body("x", thinkingConfig={"thinkingBudget": 200})
    )
    assert 50 <= reply["usageMetadata"]["thoughtsTokenCount"] <= 200


async def test_max_output_tokens_caps_the_reply(emu: Emu) -> None:
    _, reply = await emu.generate(
        text_body(
            "long please",
            maxOutputTokens=10,
            thinkingConfig={"thinkingLevel": "minimal"},
        )
    )
    assert reply["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert reply["usageMetadata"]["candidatesTokenCount"] <= 10


async def test_thinking_that_exhausts_max_output_tokens_leaves_no_parts(
    emu: Emu,
) -> None:
    _, reply = await emu.generate(text_body("x", maxOutputTokens=50), model=PRO)
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS" and candidate["content"] == {
        "role": "model"
    }
    assert reply["usageMetadata"]["thoughtsTokenCount"] == 50


async def test_stop_sequences_cut_the_text(emu: Emu) -> None:
    _, reply = await emu.generate(text_body("abc", stopSequences=[":"]))
    assert reply["candidates"][0]["content"]["parts"][0]["text"] == 'Reply to "abc"'


async def test_json_schema_reply_validates(emu: Emu) -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 3},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "tags": {
                "type": "array",
                "items": {"type": "string", "enum": ["a", "b"]},
                "minItems": 2,
                "maxItems": 3,
            },
            "nested": {
                "type": "object",
                "properties": {
                    "ok": {"type": "boolean"},
                    "when": {"type": "string", "format": "date"},
                },
                "required": ["ok"],
            },
            "maybe": {"type": ["number", "null"]},
        },
        "required": ["title", "score", "tags"],
        "additionalProperties": False,
    }
    for i in range(5):
        _, reply = await emu.generate(
            text_body(
                f"row {i}",
                responseMimeType="application/json",
                responseJsonSchema=schema,
            )
        )
        import json

        jsonschema.validate(
            json.loads(reply["candidates"][0]["content"]["parts"][0]["text"]), schema
        )


async def test_openapi_response_schema_reply_validates(emu: Emu) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING"},
            "n": {"type": "INTEGER", "nullable": True},
            "xs": {"type": "ARRAY", "items": {"type": "NUMBER"}},
        },
        "required": ["name", "n"],
    }
    _, reply = await emu.generate(
        text_body("x", response_mime_type="application/json", response_schema=schema)
    )
    import json

    doc = json.loads(reply["candidates"][0]["content"]["parts"][0]["text"])
    assert isinstance(doc["name"], str) and all(
        isinstance(x, float | int) for x in doc["xs"]
    )


async def test_function_call_when_the_prompt_asks_for_one(emu: Emu) -> None:
    tools = [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ]
    body = {
        "contents": [{"parts": [{"text": "please call:get_weather"}]}],
        "tools": tools,
    }
    _, reply = await emu.generate(body)
    part = reply["candidates"][0]["content"]["parts"][-1]
    assert part["functionCall"]["name"] == "get_weather" and isinstance(
        part["functionCall"]["args"]["city"], str
    )
    assert reply["candidates"][0]["finishReason"] == "STOP"
    _, plain = await emu.generate(
        {"contents": [{"parts": [{"text": "no call here"}]}], "tools": tools}
    )
    assert "text" in plain["candidates"][0]["content"]["parts"][-1]


def _png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "PNG")
    return (
        base64.urlsafe_b64encode(out.getvalue()).decode().rstrip("=")
    )  # URL-safe, unpadded: the SDK's way


def _wav(seconds: float) -> str:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<h", 0) * int(8000 * seconds))
    return base64.b64encode(out.getvalue()).decode()


async def test_media_tokens_by_modality(emu: Emu) -> None:
    parts = [
        {"inlineData": {"mimeType": "image/png", "data": _png()}},
        {"inline_data": {"mime_type": "audio/wav", "data": _wav(2.0)}},
        {
            "inlineData": {
                "mimeType": "text/plain",
                "data": base64.b64encode(b"x" * 40).decode(),
            }
        },
        {"text": "describe"},
    ]
    _, reply = await emu.generate({"contents": [{"parts": parts}]})
    details = {
        d["modality"]: d["tokenCount"]
        for d in reply["usageMetadata"]["promptTokensDetails"]
    }
    assert details == {"IMAGE": 1120, "AUDIO": 64, "TEXT": 10 + 2}
    _, low = await emu.generate(
        {
            "contents": [{"parts": parts[:1] + [{"text": "d"}]}],
            "generationConfig": {"mediaResolution": "MEDIA_RESOLUTION_LOW"},
        }
    )
    assert {
        d["modality"]: d["tokenCount"]
        for d in low["usageMetadata"]["promptTokensDetails"]
    }["IMAGE"] == 280


async def test_pdf_pages_count_560_each(emu: Emu) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(100, 100)
    out = io.BytesIO()
    writer.write(out)
    parts = [
        {
            "inlineData": {
                "mimeType": "application/pdf",
                "data": base64.b64encode(out.getvalue()).decode(),
            }
        },
        {"text": "sum"},
    ]
    _, reply = await emu.generate({"contents": [{"parts": parts}]})
    assert {"modality": "DOCUMENT", "tokenCount": 1680} in reply["usageMetadata"][
        "promptTokensDetails"
    ]


async def test_image_model_returns_a_jpeg_of_the_requested_shape(emu: Emu) -> None:
    config = {
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "16:9", "imageSize": "1K"},
    }
    _, reply = await emu.generate(text_body("a lighthouse", **config), model=IMAGE)
    parts = reply["candidates"][0]["content"]["parts"]
    assert (
        "text" in parts[0]
        and parts[1]["inlineData"]["mimeType"] == "image/jpeg"
        and parts[1]["thoughtSignature"]
    )
    image = Image.open(io.BytesIO(base64.b64decode(parts[1]["inlineData"]["data"])))
    assert image.format == "JPEG" and image.size == (1376, 768)
    usage = reply["usageMetadata"]
    assert usage["candidatesTokensDetails"] == [
        {"modality": "IMAGE", "tokenCount": 1120}
    ]
    assert usage["candidatesTokenCount"] > 1120


async def test_4k_images_cost_2000_tokens(emu: Emu) -> None:
    config = {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "1:1", "imageSize": "4K"},
    }
    _, reply = await emu.generate(text_body("big", **config), model=IMAGE)
    parts = reply["candidates"][0]["content"]["parts"]
    assert len(parts) == 1 and Image.open(
        io.BytesIO(base64.b64decode(parts[0]["inlineData"]["data"]))
    ).size == (4096, 4096)
    assert reply["usageMetadata"]["candidatesTokenCount"] == 2000


async def test_stream_sends_sse_chunks_with_cumulative_usage(emu: Emu) -> None:
    async with emu.session.post(
        f"{emu.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse",
        json=text_body("stream it"),
        headers={"x-goog-api-key": "test-key"},
    ) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        raw = (await resp.read()).decode()
    import json

    events = [
        json.loads(e[6:]) for e in raw.split("\r\n\r\n") if e.startswith("data: ")
    ]
    assert len(events) == 3
    assert [("finishReason" in e["candidates"][0]) for e in events] == [
        False,
        False,
        True,
    ]
    counts = [e["usageMetadata"].get("candidatesTokenCount", 0) for e in events]
    assert counts == sorted(counts)
    text = "".join(
        p["text"]
        for e in events
        for p in e["candidates"][0]["content"]["parts"]
        if not p.get("thought")
    )
    assert text.startswith('Reply to "stream it":')


async def test_count_tokens_both_forms(emu: Emu) -> None:
    status, flat, _ = await emu.post(
        f"/v1beta/models/{FLASH}:countTokens",
        {"contents": [{"parts": [{"text": "12345678"}]}]},
    )
    assert status == 200 and flat == {
        "totalTokens": 2,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2}],
    }
    nested = {
        "generateContentRequest": {
            "model": f"models/{FLASH}",
            "contents": [{"parts": [{"text": "1234"}]}],
            "systemInstruction": {"parts": [{"text": "12345"}]},
        }
    }
    _, reply, _ = await emu.post(f"/v1beta/models/{FLASH}:countTokens", nested)
    assert reply["totalTokens"] == 3


async def test_count_tokens_validates_like_generate(emu: Emu) -> None:
    status, reply, _ = await emu.post(
        f"/v1beta/models/{FLASH}:countTokens",
        {"contents": [{"parts": [{"text": "x"}]}], "bogus": 1},
    )
    assert status == 400 and "Unknown name" in reply["error"]["message"]
    status, reply, _ = await emu.post(
        "/v1beta/models/gemini-0:countTokens",
        {"contents": [{"parts": [{"text": "x"}]}]},
    )
    assert status == 404 and "countTokens" in reply["error"]["message"]


async def test_models_list_and_get(emu: Emu) -> None:
    async with emu.session.get(f"{emu.base_url}/v1beta/models?key=test-key") as resp:
        names = [m["name"] for m in (await resp.json())["models"]]
    assert f"models/{PRO}" in names and f"models/{IMAGE}" in names
    async with emu.session.get(
        f"{emu.base_url}/v1beta/models/{PRO}", headers={"x-goog-api-key": "test-key"}
    ) as resp:
        model = await resp.json()
    assert model["inputTokenLimit"] == 1_048_576 and model["outputTokenLimit"] == 65_536


async def test_vertex_paths_use_bearer_auth_and_add_vertex_fields(emu: Emu) -> None:
    path = f"/v1beta1/projects/p/locations/global/publishers/google/models/{FLASH}:generateContent"
    status, reply, _ = await emu.post(
        path, text_body("hi"), key=None, headers={"Authorization": "Bearer test-key"}
    )
    assert (
        status == 200
        and reply["usageMetadata"]["trafficType"] == "ON_DEMAND"
        and reply["createTime"].endswith("Z")
    )
    status, _, _ = await emu.post(
        path.replace("v1beta1", "v1"),
        text_body("hi"),
        key=None,
        headers={"Authorization": "Bearer test-key"},
    )
    assert status == 200
    status, reply, _ = await emu.post(
        path, text_body("hi"), key=None, headers={"Authorization": "Bearer wrong"}
    )
    assert status == 401 and reply["error"]["status"] == "UNAUTHENTICATED"
    status, reply, _ = await emu.post(
        path.replace(FLASH, "gemini-0"),
        text_body("hi"),
        key=None,
        headers={"Authorization": "Bearer test-key"},
    )
    assert status == 404 and "Publisher Model" in reply["error"]["message"]
    status, reply, _ = await emu.post(
        path.replace(":generateContent", ":countTokens"),
        text_body("1234"),
        key=None,
        headers={"Authorization": "Bearer test-key"},
    )
    assert status == 200 and reply["totalTokens"] == 1
