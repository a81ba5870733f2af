"""Every validation error answers as the service does: Google's error body, code and status."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from emuhelp import FLASH, IMAGE, PRO, Emu, MakeEmu, text_body


def _error(reply: Any) -> dict[str, Any]:
    assert set(reply) == {"error"}
    return reply["error"]


async def test_unknown_model_is_404(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("x"), model="gemini-3.6-flahs")
    err = _error(reply)
    assert status == 404 and err["status"] == "NOT_FOUND"
    assert err["message"].startswith(
        "models/gemini-3.6-flahs is not found for API version v1beta"
    )


async def test_missing_key_is_403(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("x"), key=None)
    assert status == 403 and _error(reply)["status"] == "PERMISSION_DENIED"
    assert "unregistered callers" in reply["error"]["message"]


async def test_wrong_key_is_400_api_key_invalid_without_echoing_it(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("x"), key="sk-wrong-secret")
    err = _error(reply)
    assert status == 400 and err["status"] == "INVALID_ARGUMENT"
    assert err["details"][0]["reason"] == "API_KEY_INVALID"
    assert "sk-wrong-secret" not in str(reply)


async def test_key_in_query_is_accepted(emu: Emu) -> None:
    status, _, _ = await emu.post(
        f"/v1beta/models/{FLASH}:generateContent?key=test-key", text_body("x"), key=None
    )
    assert status == 200


async def test_any_key_when_none_is_configured(make_emu: MakeEmu) -> None:
    emu = await make_emu(api_key=None)
    status, _ = await emu.generate(text_body("x"), key="whatever")
    assert status == 200


async def test_malformed_json_is_400(emu: Emu) -> None:
    status, reply, _ = await emu.post(
        f"/v1beta/models/{FLASH}:generateContent",
        raw=b'{"contents": [',
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and _error(reply)["message"].startswith(
        "Invalid JSON payload received."
    )


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"contents": [{"parts": [{"text": "x"}]}], "bogus": 1}, ""),
        (text_body("x", bogus=1), "generation_config"),
        (
            text_body("x", thinkingConfig={"level": "low"}),
            "generation_config.thinking_config",
        ),
        (
            {"contents": [{"parts": [{"text": "x", "colour": "red"}]}]},
            "contents[0].parts[0]",
        ),
    ],
)
async def test_unknown_fields_are_400(
    emu: Emu, body: dict[str, Any], where: str
) -> None:
    status, reply = await emu.generate(body)
    err = _error(reply)
    assert status == 400 and err["message"].startswith(
        "Invalid JSON payload received. Unknown name"
    )
    assert (f"at '{where}'" in err["message"]) == bool(where)


async def test_thinking_level_with_budget_is_400(emu: Emu) -> None:
    status, reply = await emu.generate(
        text_body("x", thinkingConfig={"thinkingLevel": "LOW", "thinkingBudget": 1024})
    )
    assert (
        status == 400
        and "thinking budget and thinking level" in _error(reply)["message"]
    )


async def test_unsupported_thinking_level_is_400(emu: Emu) -> None:
    status, reply = await emu.generate(
        text_body("x", thinkingConfig={"thinkingLevel": "minimal"}), model=PRO
    )
    assert status == 400
    assert (
        _error(reply)["message"]
        == "Thinking level MINIMAL is not supported for this model. Please retry with other thinking level"
    )


async def test_unknown_thinking_level_is_400(emu: Emu) -> None:
    status, reply = await emu.generate(
        text_body("x", thinkingConfig={"thinkingLevel": "extreme"})
    )
    assert (
        status == 400
        and "Invalid value at 'generation_config.thinking_config.thinking_level'"
        in _error(reply)["message"]
    )


async def test_zero_budget_on_a_model_that_always_thinks_is_400(emu: Emu) -> None:
    status, reply = await emu.generate(
        text_body("x", thinkingConfig={"thinkingBudget": 0}), model=PRO
    )
    assert status == 400 and "only works in thinking mode" in _error(reply)["message"]


async def test_lowercase_image_size_is_400(emu: Emu) -> None:
    status, reply = await emu.generate(
        text_body("x", imageConfig={"imageSize": "1k"}), model=IMAGE
    )
    assert status == 400 and "image size: 1k" in _error(reply)["message"]


async def test_unsupported_aspect_ratio_is_400(emu: Emu) -> None:
    status, _ = await emu.generate(
        text_body("x", imageConfig={"aspectRatio": "8:1"}), model=IMAGE
    )
    assert status == 400


async def test_image_output_on_a_text_model_is_400(emu: Emu) -> None:
    status, reply = await emu.generate(
        text_body("x", responseModalities=["TEXT", "IMAGE"])
    )
    assert status == 400 and "response modalities: image" in _error(reply)["message"]


async def test_max_output_tokens_above_the_model_limit_is_400(emu: Emu) -> None:
    status, reply = await emu.generate(
        text_body("x", maxOutputTokens=65_537), model=PRO
    )
    assert (
        status == 400 and "maxOutputTokens value of 65537" in _error(reply)["message"]
    )
    status, _ = await emu.generate(text_body("x", maxOutputTokens=32_769), model=IMAGE)
    assert status == 400
    status, _ = await emu.generate(
        text_body("x", maxOutputTokens="65536"), model=PRO
    )  # int64 as a string is fine
    assert status == 200


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"temperature": 3}, "temperature"),
        ({"topP": 1.5}, "topP"),
        ({"candidateCount": 2}, "Multiple candidates"),
        ({"maxOutputTokens": "lots"}, "TYPE_INT32"),
        ({"stopSequences": ["a", "b", "c", "d", "e", "f"]}, "stop sequences"),
        ({"responseMimeType": "text/csv"}, "allowed mimetypes"),
        ({"responseSchema": {"type": "STRING"}}, "text/plain"),
        (
            {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "STRING"},
                "responseJsonSchema": {"type": "string"},
            },
            "Only one of",
        ),
    ],
)
async def test_generation_config_values_are_checked(
    emu: Emu, config: dict[str, Any], fragment: str
) -> None:
    status, reply = await emu.generate(text_body("x", **config))
    assert status == 400 and fragment in _error(reply)["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"contents": []},
        {"contents": [{"parts": []}]},
        {"contents": [{"parts": [{"text": ""}]}]},
        {"contents": [{"parts": [{}]}]},
        {"contents": [{"role": "robot", "parts": [{"text": "x"}]}]},
    ],
)
async def test_bad_contents_are_400(emu: Emu, body: dict[str, Any]) -> None:
    status, reply = await emu.generate(body)
    assert status == 400 and _error(reply)["status"] == "INVALID_ARGUMENT"


def _inline(mime: str, data: bytes) -> dict[str, Any]:
    return {
        "contents": [
            {
                "parts": [
                    {
                        "inlineData": {
                            "mimeType": mime,
                            "data": base64.b64encode(data).decode(),
                        }
                    },
                    {"text": "x"},
                ]
            }
        ]
    }


async def test_unsupported_mime_type_is_400(emu: Emu) -> None:
    status, reply = await emu.generate(
        _inline("application/x-msdownload", b"MZ\x90\x00")
    )
    assert status == 400 and "Unsupported MIME type" in _error(reply)["message"]


async def test_bytes_that_do_not_match_the_declared_type_are_400(emu: Emu) -> None:
    status, reply = await emu.generate(_inline("image/png", b"GIF89a not a png"))
    assert status == 400 and "not a valid image/png" in _error(reply)["message"]


async def test_bad_base64_is_400(emu: Emu) -> None:
    body = {
        "contents": [
            {"parts": [{"inlineData": {"mimeType": "image/png", "data": "***"}}]}
        ]
    }
    status, reply = await emu.generate(body)
    assert status == 400 and "Base64 decoding failed" in _error(reply)["message"]


async def test_request_over_100_mb_is_400(emu: Emu) -> None:
    raw = (
        b'{"contents": [{"parts": [{"text": "' + b"a" * (100 * 1024 * 1024) + b'"}]}]}'
    )
    status, reply, _ = await emu.post(
        f"/v1beta/models/{FLASH}:generateContent",
        raw=raw,
        headers={"Content-Type": "application/json"},
    )
    assert (
        status == 400 and "payload size exceeds the limit" in _error(reply)["message"]
    )


async def test_more_than_14_images_on_an_image_model_is_400(emu: Emu) -> None:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    image = {
        "inlineData": {
            "mimeType": "image/png",
            "data": base64.b64encode(out.getvalue()).decode(),
        }
    }
    status, reply = await emu.generate(
        {"contents": [{"parts": [image] * 15 + [{"text": "edit"}]}]}, model=IMAGE
    )
    assert status == 400 and "at most 14 input images" in _error(reply)["message"]
    status, _ = await emu.generate(
        {"contents": [{"parts": [image] * 14 + [{"text": "edit"}]}]}, model=IMAGE
    )
    assert status == 200


async def test_file_uri_of_an_unknown_file_is_403(emu: Emu) -> None:
    body = {
        "contents": [
            {
                "parts": [
                    {
                        "fileData": {
                            "mimeType": "text/plain",
                            "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/nope",
                        }
                    },
                    {"text": "x"},
                ]
            }
        ]
    }
    status, reply = await emu.generate(body)
    assert (
        status == 403
        and "You do not have permission to access the File nope"
        in _error(reply)["message"]
    )


async def test_bad_function_name_is_400(emu: Emu) -> None:
    body = {
        "contents": [{"parts": [{"text": "x"}]}],
        "tools": [{"functionDeclarations": [{"name": "has space"}]}],
    }
    status, _ = await emu.generate(body)
    assert status == 400


async def test_invalid_directive_is_400(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("x [[emu:explode]]"))
    assert status == 400 and "unknown emulator directive" in _error(reply)["message"]


async def test_validation_errors_use_no_quota(make_emu: MakeEmu) -> None:
    emu = await make_emu(rpm=1)
    for _ in range(3):
        status, _ = await emu.generate(text_body("x", bogus=1))
        assert status == 400
    status, _ = await emu.generate(text_body("x"))
    assert status == 200
