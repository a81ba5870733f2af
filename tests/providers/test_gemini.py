"""Gemini (AI Studio) wire format: request bodies and replies against literal JSON fixtures."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.catalog import is_image_model
from pipeline.errors import CredentialsError, RateLimited, ReplyInvalid, RequestRejected
from pipeline.providers import GeminiProvider, StaticCredentials
from pipeline.providers._base import UPLOAD_CHUNK_BYTES, upload_chunks
from pipeline.providers._gemini_wire import BLOCKING_FINISH_REASONS
from pipeline.records import (
    FileSlice,
    GenerationSettings,
    HttpResponse,
    Part,
    Prompt,
    Usage,
)

SCHEMA = {
    "type": "object",
    "properties": {"total": {"type": "number"}},
    "required": ["total"],
}
TOOL = {
    "name": "lookup_vendor",
    "description": "Look up a vendor by name",
    "parameters": {
        "type": "object",
        "properties": {"vendor": {"type": "string"}},
        "required": ["vendor"],
    },
}
MODEL = "gemini-3.1-pro-preview"

Respond = Callable[..., HttpResponse]


def prompt(*parts: Part, system: str | None = None, **settings: Any) -> Prompt:
    return Prompt(
        row_id="r1",
        model=MODEL,
        parts=parts or (Part(text="Hello"),),
        generation=GenerationSettings(**settings),
        system=system,
    )


def full_prompt() -> Prompt:
    return prompt(
        Part(mime_type="image/png", data=b"PNGDATA", source_path="a.png"),
        Part(
            mime_type="application/pdf",
            file_uri="https://generativelanguage.googleapis.com/v1beta/files/abc123",
        ),
        Part(text="Extract the invoice fields."),
        system="You are a strict JSON extractor.",
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        max_output_tokens=8192,
        seed=7,
        stop_sequences=("###",),
        thinking_level="low",
        include_thoughts=True,
        response_mime_type="application/json",
        response_schema=SCHEMA,
        media_resolution="high",
        tools=(TOOL,),
    )


@pytest.fixture
def provider(gemini_credentials: StaticCredentials) -> GeminiProvider:
    return GeminiProvider(model=MODEL, credentials=gemini_credentials)


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# --- build -----------------------------------------------------------------------------------------------------


def test_build_full_request_matches_the_fixture_byte_for_byte(
    provider: GeminiProvider, fixture_json: Callable[[str], Any]
) -> None:
    request = provider.build(full_prompt(), timeout_s=600)
    assert request.method == "POST"
    assert (
        request.url
        == f"https://generativelanguage.googleapis.com/v1beta/models/{MODEL}:generateContent"
    )
    assert request.headers["x-goog-api-key"] == "AIzaSy-test-key-0123456789"
    assert request.headers["content-type"] == "application/json"
    assert request.timeout_s == 600
    assert request.body == compact(fixture_json("gemini_request_full.json"))


def test_the_same_prompt_gives_identical_bytes_on_every_attempt(
    provider: GeminiProvider,
) -> None:
    bodies = {provider.build(full_prompt()).body for _ in range(3)}
    assert len(bodies) == 1


def test_image_request_matches_the_fixture(
    provider: GeminiProvider, fixture_json: Callable[[str], Any]
) -> None:
    request = provider.build(
        prompt(
            Part(text="Da Vinci style anatomical sketch of a Monarch butterfly"),
            response_modalities=("TEXT", "IMAGE"),
            image_aspect_ratio="16:9",
            image_size="2K",
        )
    )
    assert request.body == compact(fixture_json("gemini_request_image.json"))


def test_unset_settings_are_left_out(provider: GeminiProvider) -> None:
    body = json.loads(provider.build(prompt()).body)  # type: ignore[arg-type]
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def test_a_schema_alone_asks_for_json(provider: GeminiProvider) -> None:
    body = json.loads(provider.build(prompt(response_schema=SCHEMA)).body)  # type: ignore[arg-type]
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": SCHEMA,
    }


def test_base_url_and_model_prefix(gemini_credentials: StaticCredentials) -> None:
    provider = GeminiProvider(
        model="models/gemini-3-flash-preview",
        credentials=gemini_credentials,
        base_url="http://127.0.0.1:9/",
    )
    request = provider.build(
        Prompt(
            row_id="r",
            model="",
            parts=(Part(text="x"),),
            generation=GenerationSettings(),
        )
    )
    assert (
        request.url
        == "http://127.0.0.1:9/v1beta/models/gemini-3-flash-preview:generateContent"
    )


# --- parse -----------------------------------------------------------------------------------------------------


def test_gemini3_function_call_reply(
    provider: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = provider.parse(
        fixture_response("gemini_reply_function_call.json"), prompt(tools=(TOOL,))
    )
    assert reply.status == "ok"
    assert reply.function_calls == '[{"name":"list_files","args":{}}]'
    assert reply.text is None
    assert reply.finish_reason == "STOP"
    assert reply.model_version == "gemini-3-flash-preview"
    assert reply.usage == Usage(
        input_tokens=36, output_tokens=10, thinking_tokens=211, total_tokens=257
    )


def test_image_reply(
    provider: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = provider.parse(
        fixture_response("gemini_reply_image.json"),
        prompt(response_modalities=("TEXT", "IMAGE")),
    )
    assert reply.status == "ok"
    assert reply.text == "A little axolotl named Archie…"
    assert len(reply.images) == 1
    assert reply.images[0].mime_type == "image/jpeg"
    assert reply.images[0].data.startswith(b"\xff\xd8\xff")
    assert reply.usage.image_output_tokens == 1120
    assert reply.usage.output_tokens == 1283
    assert reply.usage.thinking_tokens == 174


def test_max_tokens_without_parts_is_truncated_and_says_what_to_raise(
    provider: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = provider.parse(
        fixture_response("gemini_reply_max_tokens_no_parts.json"),
        prompt(max_output_tokens=64),
    )
    assert reply.status == "truncated"
    assert reply.error_code == "MAX_TOKENS"
    assert (
        reply.error_message is not None
        and "max_output_tokens (64)" in reply.error_message
    )
    assert "thinking" in reply.error_message
    assert reply.usage == Usage(input_tokens=15, thinking_tokens=2, total_tokens=17)


def candidate_reply(
    parts: list[dict[str, Any]] | None, finish: str | None, **extra: Any
) -> bytes:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": parts} if parts is not None else {}
    }
    if finish is not None:
        candidate["finishReason"] = finish
    return compact(
        {
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 9},
            **extra,
        }
    )


def test_max_tokens_with_text_is_truncated_and_keeps_the_text(
    provider: GeminiProvider, respond: Respond
) -> None:
    reply = provider.parse(
        respond(200, candidate_reply([{"text": "partial"}], "MAX_TOKENS")), prompt()
    )
    assert (reply.status, reply.text, reply.finish_reason) == (
        "truncated",
        "partial",
        "MAX_TOKENS",
    )


def test_max_tokens_with_cut_json_is_truncated_without_retry(
    provider: GeminiProvider, respond: Respond
) -> None:
    reply = provider.parse(
        respond(200, candidate_reply([{"text": '{"total": 1'}], "MAX_TOKENS")),
        prompt(response_schema=SCHEMA),
    )
    assert (reply.status, reply.error_code) == ("truncated", "MAX_TOKENS")


def test_safety_finish_is_blocked(
    provider: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = provider.parse(fixture_response("gemini_reply_safety.json"), prompt())
    assert (reply.status, reply.error_code, reply.finish_reason) == (
        "blocked",
        "SAFETY",
        "SAFETY",
    )
    assert reply.usage.input_tokens == 14


@pytest.mark.parametrize("reason", sorted(BLOCKING_FINISH_REASONS))
def test_every_blocking_finish_reason_blocks(
    provider: GeminiProvider, respond: Respond, reason: str
) -> None:
    reply = provider.parse(respond(200, candidate_reply(None, reason)), prompt())
    assert (reply.status, reply.error_code) == ("blocked", reason)


def test_prompt_feedback_block(
    provider: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = provider.parse(
        fixture_response("gemini_reply_prompt_blocked.json"), prompt()
    )
    assert (reply.status, reply.error_code) == ("blocked", "PROHIBITED_CONTENT")
    assert reply.usage.input_tokens == 9


def test_thoughts_are_left_out_and_fenced_json_is_parsed(
    provider: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = provider.parse(
        fixture_response("gemini_reply_text_with_thoughts.json"),
        prompt(
            response_schema={"type": "object", "required": ["total", "currency"]},
            include_thoughts=True,
        ),
    )
    assert reply.status == "ok"
    assert reply.text is not None and "My Approach" not in reply.text
    assert reply.json == '{"total":12.5,"currency":"€"}'
    assert reply.usage == Usage(
        input_tokens=120,
        output_tokens=14,
        thinking_tokens=80,
        cached_tokens=64,
        total_tokens=214,
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json at all", "INVALID_JSON"),
        ('{"total": "twelve"}', "SCHEMA_MISMATCH"),
        ("{}", "SCHEMA_MISMATCH"),
    ],
)
def test_unusable_json_raises_reply_invalid_with_usage(
    provider: GeminiProvider, respond: Respond, text: str, code: str
) -> None:
    with pytest.raises(ReplyInvalid) as caught:
        provider.parse(
            respond(200, candidate_reply([{"text": text}], "STOP")),
            prompt(response_schema=SCHEMA),
        )
    assert caught.value.code == code
    assert caught.value.retryable
    assert caught.value.usage == Usage(input_tokens=5, total_tokens=9)


@pytest.mark.parametrize(
    ("finish", "code"),
    [("STOP", "NO_IMAGE"), ("NO_IMAGE", "NO_IMAGE"), ("IMAGE_OTHER", "IMAGE_OTHER")],
)
def test_image_asked_but_missing_fails(
    provider: GeminiProvider, respond: Respond, finish: str, code: str
) -> None:
    reply = provider.parse(
        respond(200, candidate_reply([{"text": "I cannot draw that"}], finish)),
        prompt(response_modalities=("IMAGE",)),
    )
    assert (reply.status, reply.error_code) == ("failed", code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"candidates": [{"content": {"parts": [{"text": "hel', "TRUNCATED"),
        (b"", "TRUNCATED"),
        (b"<html>oops</html>", "INVALID_JSON"),
    ],
)
def test_unreadable_200_body_is_retryable(
    provider: GeminiProvider, respond: Respond, body: bytes, code: str
) -> None:
    with pytest.raises(ReplyInvalid) as caught:
        provider.parse(respond(200, body), prompt())
    assert caught.value.code == code
    assert caught.value.retryable


def test_no_candidates_is_an_empty_reply(
    provider: GeminiProvider, respond: Respond
) -> None:
    with pytest.raises(ReplyInvalid) as caught:
        provider.parse(
            respond(200, {"usageMetadata": {"promptTokenCount": 3}}), prompt()
        )
    assert caught.value.code == "EMPTY_REPLY"
    assert caught.value.usage == Usage(input_tokens=3)


def test_stop_with_nothing_in_it_is_an_empty_reply(
    provider: GeminiProvider, respond: Respond
) -> None:
    with pytest.raises(ReplyInvalid) as caught:
        provider.parse(respond(200, candidate_reply([], "STOP")), prompt())
    assert caught.value.code == "EMPTY_REPLY"


def test_429_with_retry_info(
    provider: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    with pytest.raises(RateLimited) as caught:
        provider.parse(
            fixture_response("gemini_error_429_retryinfo.json", status=429), prompt()
        )
    assert caught.value.code == "RESOURCE_EXHAUSTED"
    assert caught.value.retry_after == 26.0
    assert caught.value.http_status == 429
    assert str(caught.value).startswith("You exceeded your current quota")


def test_invalid_key_names_the_variable_never_the_key(
    provider: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    with pytest.raises(CredentialsError) as caught:
        provider.parse(
            fixture_response("gemini_error_api_key_invalid.json", status=400), prompt()
        )
    assert "GEMINI_API_KEY" in str(caught.value)
    assert "AIzaSy-test-key" not in str(caught.value)


def test_a_server_that_echoes_the_key_gets_it_scrubbed(
    provider: GeminiProvider, respond: Respond
) -> None:
    body = {
        "error": {
            "code": 404,
            "message": "no model for key AIzaSy-test-key-0123456789",
            "status": "NOT_FOUND",
        }
    }
    with pytest.raises(RequestRejected) as caught:
        provider.parse(respond(404, body), prompt())
    assert "AIzaSy-test-key-0123456789" not in str(caught.value)
    assert "***" in str(caught.value)


# --- countTokens -----------------------------------------------------------------------------------------------


def test_count_tokens_request(
    provider: GeminiProvider, fixture_json: Callable[[str], Any]
) -> None:
    request = provider.build_count_tokens(
        prompt(
            Part(text="Summarise: the quick brown fox."),
            system="Be brief.",
            max_output_tokens=256,
        )
    )
    assert (
        request.url
        == f"https://generativelanguage.googleapis.com/v1beta/models/{MODEL}:countTokens"
    )
    assert request.body == compact(fixture_json("gemini_count_tokens_request.json"))


def test_count_tokens_reply(provider: GeminiProvider, respond: Respond) -> None:
    body = {
        "totalTokens": 12,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
    }
    assert provider.parse_count_tokens(respond(200, body)) == 12
    assert provider.parse_count_tokens(respond(200, {})) == 0
    with pytest.raises(RequestRejected):
        provider.parse_count_tokens(
            respond(
                404, {"error": {"code": 404, "message": "no", "status": "NOT_FOUND"}}
            )
        )


# --- Files API -------------------------------------------------------------------------------------------------


def test_upload_start(provider: GeminiProvider, respond: Respond) -> None:
    request = provider.build_upload_start(
        size=20_971_520, mime_type="application/pdf", display_name="report.pdf"
    )
    assert (request.method, request.url) == (
        "POST",
        "https://generativelanguage.googleapis.com/upload/v1beta/files",
    )
    assert request.headers["x-goog-upload-protocol"] == "resumable"
    assert request.headers["x-goog-upload-command"] == "start"
    assert request.headers["x-goog-upload-header-content-length"] == "20971520"
    assert request.headers["x-goog-upload-header-content-type"] == "application/pdf"
    assert request.headers["x-goog-api-key"] == "AIzaSy-test-key-0123456789"
    assert json.loads(request.body) == {"file": {"displayName": "report.pdf"}}  # type: ignore[arg-type]
    url = "https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id=xyz"
    assert (
        provider.parse_upload_start(respond(200, b"", {"x-goog-upload-url": url}))
        == url
    )
    with pytest.raises(ReplyInvalid):
        provider.parse_upload_start(respond(200, b""))


def test_upload_chunks_and_the_final_file(
    provider: GeminiProvider,
    respond: Respond,
    fixture_response: Callable[..., HttpResponse],
) -> None:
    chunks = upload_chunks("/data/report.pdf", 20_971_520)
    assert [(c.offset, c.length, final) for c, final in chunks] == [
        (0, UPLOAD_CHUNK_BYTES, False),
        (UPLOAD_CHUNK_BYTES, UPLOAD_CHUNK_BYTES, False),
        (2 * UPLOAD_CHUNK_BYTES, 20_971_520 - 2 * UPLOAD_CHUNK_BYTES, True),
    ]
    middle = provider.build_upload_chunk("https://up/x", chunks[1][0], final=False)
    assert middle.body == FileSlice(
        "/data/report.pdf", UPLOAD_CHUNK_BYTES, UPLOAD_CHUNK_BYTES
    )
    assert middle.headers["x-goog-upload-command"] == "upload"
    assert middle.headers["x-goog-upload-offset"] == str(UPLOAD_CHUNK_BYTES)
    assert "content-type" not in middle.headers
    last = provider.build_upload_chunk("https://up/x", chunks[2][0], final=True)
    assert last.headers["x-goog-upload-command"] == "upload, finalize"
    assert (
        provider.parse_upload_chunk(
            respond(200, b"", {"x-goog-upload-status": "active"})
        )
        is None
    )
    final = fixture_response(
        "gemini_file.json", headers={"x-goog-upload-status": "final"}
    )
    uploaded = provider.parse_upload_chunk(final)
    assert uploaded is not None
    assert uploaded.name == "files/abc-123"
    assert (
        uploaded.uri == "https://generativelanguage.googleapis.com/v1beta/files/abc-123"
    )
    assert uploaded.mime_type == "application/pdf"
    assert uploaded.state == "PROCESSING"
    assert uploaded.size_bytes == 20_971_520
    assert uploaded.sha256 == "ZmFrZS1oYXNo"
    assert uploaded.expires_at == datetime(2026, 5, 3, 10, 0, 0, 123456, tzinfo=UTC)


def test_an_empty_file_is_one_final_empty_chunk() -> None:
    assert upload_chunks("/e", 0) == [(FileSlice("/e", 0, 0), True)]


def test_get_and_delete_file(provider: GeminiProvider, respond: Respond) -> None:
    for name in (
        "files/abc-123",
        "abc-123",
        "https://generativelanguage.googleapis.com/v1beta/files/abc-123",
    ):
        assert (
            provider.build_get_file(name).url
            == "https://generativelanguage.googleapis.com/v1beta/files/abc-123"
        )
    delete = provider.build_delete_file("files/abc-123")
    assert (delete.method, delete.body) == ("DELETE", None)
    active = {
        "name": "files/abc-123",
        "uri": "u",
        "mimeType": "video/mp4",
        "state": "ACTIVE",
        "sizeBytes": "5",
    }
    assert provider.parse_file(respond(200, active)).state == "ACTIVE"


def test_a_403_on_a_file_is_a_missing_file_not_a_bad_key(
    provider: GeminiProvider, respond: Respond
) -> None:
    body = {
        "error": {
            "code": 403,
            "message": "You do not have permission to access the File abc or it may not exist.",
            "status": "PERMISSION_DENIED",
        }
    }
    with pytest.raises(RequestRejected) as caught:
        provider.parse_file(respond(403, body))
    assert caught.value.code == "PERMISSION_DENIED"
    # on generateContent too: the file expired or was deleted; the row can upload it again
    with pytest.raises(RequestRejected):
        provider.parse(respond(403, body), prompt())
    refused = {
        "error": {
            "code": 403,
            "message": "Method doesn't allow unregistered callers",
            "status": "PERMISSION_DENIED",
        }
    }
    with pytest.raises(CredentialsError):
        provider.parse(respond(403, refused), prompt())


def test_urlsafe_base64_images_are_accepted(
    provider: GeminiProvider, respond: Respond
) -> None:
    data = bytes(range(250, 256)) * 3
    encoded = base64.urlsafe_b64encode(data).decode()
    assert "-" in encoded or "_" in encoded
    parts = [{"inlineData": {"mimeType": "image/png", "data": encoded}}]
    reply = provider.parse(
        respond(200, candidate_reply(parts, "STOP")),
        prompt(response_modalities=("IMAGE",)),
    )
    assert reply.images[0].data == data


# --- image models ----------------------------------------------------------------------------------------------

IMAGE_MODEL = "gemini-3-pro-image-preview"


def image_prompt(**settings: Any) -> Prompt:
    return Prompt(
        row_id="r1",
        model=IMAGE_MODEL,
        parts=(Part(text="A red fox"),),
        generation=GenerationSettings(**settings),
    )


@pytest.mark.parametrize("finish", ["STOP", "NO_IMAGE", "IMAGE_OTHER"])
def test_an_image_model_without_modalities_still_needs_an_image(
    provider: GeminiProvider, respond: Respond, finish: str
) -> None:
    # An image model answers with text and image unless told otherwise: text alone is not an `ok` row.
    reply = provider.parse(
        respond(200, candidate_reply([{"text": "I cannot draw that"}], finish)),
        image_prompt(),
    )
    assert reply.status == "failed"
    assert reply.error_code == ("NO_IMAGE" if finish == "STOP" else finish)


def test_no_image_finish_fails_whatever_was_asked(
    provider: GeminiProvider, respond: Respond
) -> None:
    reply = provider.parse(
        respond(200, candidate_reply([{"text": "no"}], "NO_IMAGE")), prompt()
    )
    assert (reply.status, reply.error_code) == ("failed", "NO_IMAGE")


def test_text_only_modalities_on_an_image_model_need_no_image(
    provider: GeminiProvider, respond: Respond
) -> None:
    reply = provider.parse(
        respond(200, candidate_reply([{"text": "a caption"}], "STOP")),
        image_prompt(response_modalities=("TEXT",)),
    )
    assert (reply.status, reply.text) == ("ok", "a caption")


def test_image_safety_is_blocked_with_its_reason(
    provider: GeminiProvider, respond: Respond
) -> None:
    reply = provider.parse(
        respond(200, candidate_reply(None, "IMAGE_SAFETY")),
        image_prompt(response_modalities=("TEXT", "IMAGE")),
    )
    assert (reply.status, reply.error_code) == ("blocked", "IMAGE_SAFETY")
    assert "IMAGE_SAFETY" in (reply.error_message or "")


@pytest.mark.parametrize(
    ("model", "image_model"),
    [
        ("gemini-3-pro-image-preview", True),
        ("gemini-3.1-flash-image", True),
        ("google/gemini-3-pro-image-preview", True),  # an aggregator's name
        ("gemini-2.5-flash-image", True),  # shut down, still an image model
        ("gemini-3.1-pro-preview", False),
        ("nano-banana-pro", False),  # unknown: the server is the judge
    ],
)
def test_is_image_model(model: str, image_model: bool) -> None:
    assert is_image_model(model) is image_model


def test_unpadded_base64_images_are_accepted(
    provider: GeminiProvider, respond: Respond
) -> None:
    data = b"\xff\xd8\xff\xe0JPEG"
    encoded = base64.b64encode(data).decode().rstrip("=")
    parts = [{"inlineData": {"mimeType": "image/jpeg", "data": encoded}}]
    reply = provider.parse(respond(200, candidate_reply(parts, "STOP")), image_prompt())
    assert reply.images[0].data == data


@pytest.mark.parametrize("data", ["not base64!", "", None])
def test_an_undecodable_image_is_retryable_with_its_usage(
    provider: GeminiProvider, respond: Respond, data: object
) -> None:
    parts = [{"inlineData": {"mimeType": "image/jpeg", "data": data}}]
    with pytest.raises(ReplyInvalid) as caught:
        provider.parse(respond(200, candidate_reply(parts, "STOP")), image_prompt())
    assert caught.value.code == "INVALID_IMAGE"
    assert caught.value.usage == Usage(input_tokens=5, total_tokens=9)


def test_thought_summaries_go_to_thoughts_never_to_text(
    provider: GeminiProvider, respond: Respond
) -> None:
    parts = [
        {"text": "**Weighing** the options", "thought": True},
        {"text": "The answer.", "thoughtSignature": "c2ln"},
    ]
    reply = provider.parse(respond(200, candidate_reply(parts, "STOP")), prompt())
    assert (reply.status, reply.text, reply.thoughts) == (
        "ok",
        "The answer.",
        "**Weighing** the options",
    )


@pytest.mark.parametrize(
    "finish",
    ["MALFORMED_FUNCTION_CALL", "OTHER", "UNEXPECTED_TOOL_CALL", "MALFORMED_RESPONSE"],
)
def test_other_finishes_with_content_fail_with_the_servers_message(
    provider: GeminiProvider, respond: Respond, finish: str
) -> None:
    body = json.loads(candidate_reply([{"text": "half"}], finish))
    body["candidates"][0]["finishMessage"] = "Malformed function call: call:f{"
    reply = provider.parse(respond(200, compact(body)), prompt())
    assert (reply.status, reply.error_code, reply.text) == ("failed", finish, "half")
    assert (reply.error_message or "").startswith("Malformed function call: call:f{")


@pytest.mark.parametrize("finish", ["LANGUAGE", "RECITATION", "MODEL_ARMOR"])
def test_filter_finishes_are_blocked(
    provider: GeminiProvider, respond: Respond, finish: str
) -> None:
    reply = provider.parse(
        respond(200, candidate_reply([{"text": "x"}], finish)), prompt()
    )
    assert (reply.status, reply.error_code) == ("blocked", finish)


def test_a_prompt_block_keeps_the_servers_explanation(
    provider: GeminiProvider, respond: Respond
) -> None:
    body = compact(
        {
            "promptFeedback": {
                "blockReason": "PROHIBITED_CONTENT",
                "blockReasonMessage": "The prompt violates the policy on X.",
            },
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
        }
    )
    reply = provider.parse(respond(200, body), prompt())
    assert (reply.status, reply.error_message) == (
        "blocked",
        "The prompt violates the policy on X.",
    )
