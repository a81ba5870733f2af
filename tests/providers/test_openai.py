"""OpenAI-compatible chat completions and image generations against literal JSON fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.catalog import image_tokens
from pipeline.errors import (
    CredentialsError,
    RateLimited,
    ReplyInvalid,
    RequestRejected,
    ServerError,
)
from pipeline.providers import StaticCredentials
from pipeline.providers._openai import OpenAIProvider, audio_format, image_size
from pipeline.providers._openai_reply import parse_images_reply, usage_from
from pipeline.records import GenerationSettings, HttpResponse, Part, Prompt, Usage

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
BASE = "http://127.0.0.1:8089/v1beta/openai"  # Google's dialect; aggregators: test_wire_agreement

Respond = Callable[..., HttpResponse]


def prompt(
    *parts: Part,
    model: str = "gemini-3.1-pro-preview",
    system: str | None = None,
    **settings: Any,
) -> Prompt:
    return Prompt(
        row_id="r1", model=model, parts=parts or (Part(text="Hello"),), generation=GenerationSettings(**settings),
        system=system,
    )  # fmt: skip


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.fixture
def provider(bearer_credentials: StaticCredentials) -> OpenAIProvider:
    return OpenAIProvider(
        model="gemini-3.1-pro-preview",
        credentials=bearer_credentials,
        base_url=BASE + "/",
    )


@pytest.fixture
def image_provider(bearer_credentials: StaticCredentials) -> OpenAIProvider:
    return OpenAIProvider(
        model="gemini-3.1-flash-image",
        credentials=bearer_credentials,
        base_url=BASE,
        image_endpoint="images",
    )


def test_full_chat_request_matches_the_fixture(
    provider: OpenAIProvider, fixture_json: Callable[[str], Any]
) -> None:
    request = provider.build(
        prompt(
            Part(mime_type="image/png", data=b"PNGDATA"),
            Part(mime_type="audio/mpeg", data=b"RIFF"),
            Part(
                mime_type="application/pdf", data=b"%PDF-", source_path="reports/q3.pdf"
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
            response_schema=SCHEMA,
            media_resolution="high",
            tools=(TOOL,),
        ),
        timeout_s=60,
    )
    assert (request.method, request.url, request.timeout_s) == (
        "POST",
        f"{BASE}/chat/completions",
        60,
    )
    assert request.headers["authorization"] == "Bearer AIzaSy-test-key-0123456789"
    assert request.headers["content-type"] == "application/json"
    assert request.body == compact(fixture_json("openai_request_full.json"))


def test_json_without_schema_asks_for_a_json_object(provider: OpenAIProvider) -> None:
    body = json.loads(
        provider.build(prompt(response_mime_type="application/json")).body
    )  # type: ignore[arg-type]
    assert body["response_format"] == {"type": "json_object"}


def test_image_model_over_chat(
    bearer_credentials: StaticCredentials, fixture_json: Callable[[str], Any]
) -> None:
    provider = OpenAIProvider(
        model="gemini-3.1-flash-image", credentials=bearer_credentials, base_url=BASE
    )
    request = provider.build(
        prompt(
            Part(text="A watercolour fox"),
            model="gemini-3.1-flash-image",
            response_modalities=("TEXT", "IMAGE"),
            image_aspect_ratio="16:9",
            image_size="2K",
        )
    )
    assert request.url == f"{BASE}/chat/completions"
    assert request.body == compact(fixture_json("openai_request_image_chat.json"))


def test_images_endpoint_for_text_only_prompts(
    image_provider: OpenAIProvider,
    fixture_json: Callable[[str], Any],
    fixture_response: Callable[..., HttpResponse],
) -> None:
    image_prompt = prompt(
        Part(text="A watercolour fox"), model="gemini-3.1-flash-image", response_modalities=("IMAGE",),
        image_aspect_ratio="16:9", image_size="2K",
    )  # fmt: skip
    request = image_provider.build(image_prompt)
    assert request.url == f"{BASE}/images/generations"
    assert request.body == compact(fixture_json("openai_request_images_api.json"))
    reply = image_provider.parse(
        fixture_response("openai_reply_images_api.json"), image_prompt
    )
    assert reply.status == "ok"
    assert reply.images[0].mime_type == "image/jpeg"
    assert reply.usage == Usage(
        input_tokens=12, output_tokens=1120, total_tokens=1132, image_output_tokens=1120
    )
    empty = image_provider.parse(HttpResponse(200, {}, b'{"data": []}'), image_prompt)
    assert (empty.status, empty.error_code) == ("failed", "NO_IMAGE")


def test_a_content_policy_refusal_of_the_images_endpoint_is_blocked(
    image_provider: OpenAIProvider,
) -> None:
    image_prompt = prompt(
        Part(text="A watercolour fox"), model="gemini-3.1-flash-image", response_modalities=("IMAGE",)
    )  # fmt: skip
    refusal = {
        "error": {
            "message": "Your request was rejected by the safety system.",
            "type": "invalid_request_error",
            "code": "content_policy_violation",
        }
    }
    reply = image_provider.parse(
        HttpResponse(400, {}, json.dumps(refusal).encode()), image_prompt
    )
    assert (reply.status, reply.error_code) == ("blocked", "CONTENT_FILTER")
    assert "safety system" in (reply.error_message or "")
    other = {"error": {"message": "bad size", "code": "invalid_value"}}
    with pytest.raises(RequestRejected):
        image_provider.parse(
            HttpResponse(400, {}, json.dumps(other).encode()), image_prompt
        )


def test_a_prompt_with_media_goes_to_chat_even_with_the_images_endpoint(
    image_provider: OpenAIProvider,
) -> None:
    request = image_provider.build(
        prompt(Part(mime_type="image/png", data=b"x"), Part(text="edit this"))
    )
    assert request.url == f"{BASE}/chat/completions"


def test_compat_reply_with_tool_calls_and_empty_id(
    provider: OpenAIProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = provider.parse(
        fixture_response("openai_reply_tool_calls.json"), prompt(tools=(TOOL,))
    )
    assert reply.status == "ok"
    assert reply.function_calls == '[{"name":"get_current_time","args":{}}]'
    assert reply.finish_reason == "tool_calls"
    assert reply.model_version == "gemini-2.5-pro-preview-05-06"
    # Google's endpoint leaves thinking out of completion_tokens: 109 - 35 - 12 = 62 thought tokens.
    assert reply.usage == Usage(
        input_tokens=35, output_tokens=12, thinking_tokens=62, total_tokens=109
    )


def test_image_reply_over_chat(
    provider: OpenAIProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = provider.parse(
        fixture_response("openai_reply_image_chat.json"),
        prompt(response_modalities=("IMAGE",)),
    )
    assert reply.status == "ok"
    assert reply.text == "Here it is."
    assert [image.mime_type for image in reply.images] == ["image/png"]
    assert reply.images[0].data.startswith(b"\x89PNG")
    # 10 + 1130 + 160 = 1300: this reseller counts reasoning outside completion_tokens
    assert reply.usage == Usage(
        input_tokens=10, output_tokens=1130, thinking_tokens=160, cached_tokens=4, total_tokens=1300,
        image_output_tokens=1120,
    )  # fmt: skip


def chat(content: object, finish: str = "stop", **message: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": {"role": "assistant", "content": content, **message},
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def test_content_as_a_list_of_parts(provider: OpenAIProvider, respond: Respond) -> None:
    content = [
        {"type": "text", "text": "a"},
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}},
        {"type": "text", "text": "b"},
    ]
    reply = provider.parse(respond(200, chat(content)), prompt())
    assert reply.text == "ab"
    assert reply.images[0].mime_type == "image/webp"


def test_json_reply_is_validated(provider: OpenAIProvider, respond: Respond) -> None:
    ok = provider.parse(
        respond(200, chat('```json\n{"total": 3}\n```')), prompt(response_schema=SCHEMA)
    )
    assert ok.json == '{"total":3}'
    with pytest.raises(ReplyInvalid) as caught:
        provider.parse(
            respond(200, chat('{"total": "x"}')), prompt(response_schema=SCHEMA)
        )
    assert caught.value.code == "SCHEMA_MISMATCH"
    assert caught.value.usage == Usage(input_tokens=5, output_tokens=3, total_tokens=8)


def test_length_without_content_is_max_tokens(
    provider: OpenAIProvider, respond: Respond
) -> None:
    reply = provider.parse(
        respond(200, chat(None, "length")), prompt(max_output_tokens=10)
    )
    assert (reply.status, reply.error_code) == ("truncated", "MAX_TOKENS")
    assert "max_output_tokens (10)" in (reply.error_message or "")
    cut = provider.parse(respond(200, chat("partial", "length")), prompt())
    assert (cut.status, cut.text) == ("truncated", "partial")


def test_content_filter_is_blocked(provider: OpenAIProvider, respond: Respond) -> None:
    reply = provider.parse(respond(200, chat(None, "content_filter")), prompt())
    assert (reply.status, reply.error_code, reply.finish_reason) == (
        "blocked",
        "CONTENT_FILTER",
        "content_filter",
    )


def test_no_choices_and_bad_arguments_are_retryable(
    provider: OpenAIProvider, respond: Respond
) -> None:
    with pytest.raises(ReplyInvalid, match="no choices") as caught:
        provider.parse(
            respond(200, {"choices": [], "usage": {"prompt_tokens": 2}}), prompt()
        )
    assert caught.value.code == "EMPTY_REPLY"
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "f", "arguments": "{not json"},
    }
    with pytest.raises(ReplyInvalid) as bad:
        provider.parse(
            respond(200, chat(None, "tool_calls", tool_calls=[call])), prompt()
        )
    assert bad.value.code == "MALFORMED_FUNCTION_CALL"


def test_list_wrapped_google_error(
    provider: OpenAIProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    with pytest.raises(RequestRejected) as caught:
        provider.parse(
            fixture_response("openai_error_list_wrapped.json", status=400), prompt()
        )
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "Invalid reasoning_effort: minimal" in str(caught.value)
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "9"}, 9.0),
        ({}, None),
    ],
)
def test_openai_rate_limit(
    provider: OpenAIProvider,
    fixture_response: Callable[..., HttpResponse],
    headers: dict[str, str],
    expected: float | None,
) -> None:
    with pytest.raises(RateLimited) as caught:
        provider.parse(
            fixture_response(
                "openai_error_rate_limit.json", status=429, headers=headers
            ),
            prompt(),
        )
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.retry_after == expected


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, CredentialsError),
        (403, CredentialsError),
        (500, ServerError),
        (503, ServerError),
        (404, RequestRejected),
    ],
)
def test_status_mapping(
    provider: OpenAIProvider, respond: Respond, status: int, error: type[Exception]
) -> None:
    body = {
        "error": {
            "message": "nope",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    with pytest.raises(error):
        provider.parse(respond(status, body), prompt())


def test_refused_key_names_the_variable(
    provider: OpenAIProvider, respond: Respond
) -> None:
    body = {
        "error": {
            "message": "Incorrect API key provided: AIzaSy-test-key-0123456789",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    with pytest.raises(CredentialsError) as caught:
        provider.parse(respond(401, body), prompt())
    assert "OPENAI_API_KEY" in str(caught.value)
    assert "AIzaSy-test-key-0123456789" not in str(caught.value)


def test_no_count_tokens_and_no_files(provider: OpenAIProvider) -> None:
    assert not provider.supports_count_tokens and not provider.supports_files
    with pytest.raises(NotImplementedError):
        provider.build_count_tokens(prompt())
    with pytest.raises(NotImplementedError):
        provider.build_get_file("files/x")


@pytest.mark.parametrize(
    ("mime", "fmt"),
    [
        ("audio/wav", "wav"),
        ("audio/x-wav", "wav"),
        ("audio/mpeg", "mp3"),
        ("audio/flac", "flac"),
        ("audio/x-aiff", "aiff"),
        ("audio/ogg", "ogg"),
    ],
)
def test_audio_formats(mime: str, fmt: str) -> None:
    assert audio_format(mime) == fmt


def test_image_sizes() -> None:
    assert image_size(None, None) is None
    assert image_size("1K", None) == "1024x1024"
    assert image_size("2K", "16:9") == "2048x1152"
    assert image_size(None, "9:16") == "576x1024"


def test_usage_with_reasoning_details_and_without_total() -> None:
    assert usage_from(
        {
            "prompt_tokens": 4,
            "completion_tokens": 10,
            "completion_tokens_details": {"reasoning_tokens": 6},
        }
    ) == Usage(input_tokens=4, output_tokens=4, thinking_tokens=6, total_tokens=14)
    assert usage_from(None) == Usage()


# --- image models ----------------------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0fake-jpeg"
JPEG_B64 = "/9j/4GZha2UtanBlZw=="


def test_image_tokens_are_filled_in_when_usage_does_not_itemise_them(
    provider: OpenAIProvider, respond: Respond
) -> None:
    # Google's compatibility endpoint reports no details: the image is still billed at the image rate.
    body = chat(
        "Here it is.",
        images=[{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + JPEG_B64}}],
    )  # fmt: skip
    body["usage"] = {
        "prompt_tokens": 5,
        "completion_tokens": 2_010,
        "total_tokens": 2_215,
    }
    reply = provider.parse(
        respond(200, body),
        prompt(model="gemini-3-pro-image-preview", image_size="4K"),
    )
    assert reply.status == "ok" and reply.images[0].data == JPEG
    assert reply.usage.image_output_tokens == 2_000
    assert reply.usage.output_tokens == 2_010  # as reported


@pytest.mark.parametrize(
    ("model", "size", "tokens"),
    [
        ("gemini-3-pro-image-preview", None, 1_120),
        ("gemini-3-pro-image", "2K", 1_120),
        ("gemini-3-pro-image", "4K", 2_000),
        ("gemini-3.1-flash-image-preview", "512", 747),
        ("gemini-3.1-flash-image", "2K", 1_680),
        ("gemini-3.1-flash-image", "4K", 2_520),
    ],
)
def test_published_image_tokens(model: str, size: str | None, tokens: int) -> None:
    assert image_tokens(model, size) == tokens


def test_chat_reply_of_an_image_model_without_an_image_fails(
    provider: OpenAIProvider, respond: Respond
) -> None:
    reply = provider.parse(
        respond(200, chat("I would rather describe it.")),
        prompt(model="gemini-3-pro-image-preview"),
    )
    assert (reply.status, reply.error_code) == ("failed", "NO_IMAGE")


def test_images_api_reply_without_usage_is_billed_per_image(
    image_provider: OpenAIProvider, respond: Respond
) -> None:
    image_prompt = prompt(
        Part(text="a fox"), model="gemini-3.1-flash-image", image_size="2K"
    )
    body = {
        "created": 1,
        "data": [{"b64_json": JPEG_B64, "revised_prompt": "A red fox."}],
    }
    reply = parse_images_reply(respond(200, body).body, image_prompt)
    assert reply.status == "ok"
    assert reply.text == "A red fox."
    assert [(i.mime_type, i.data) for i in reply.images] == [("image/jpeg", JPEG)]
    assert reply.usage == Usage(image_output_tokens=1_680)


def test_images_api_data_url_and_bad_base64(respond: Respond) -> None:
    body = {"data": [{"url": "data:image/webp;base64,UklGRg=="}]}
    reply = parse_images_reply(respond(200, body).body)
    assert [i.mime_type for i in reply.images] == ["image/webp"]
    assert (
        reply.usage.image_output_tokens == 1_120
    )  # no usage, no model: the 1K/2K figure
    with pytest.raises(ReplyInvalid) as caught:
        parse_images_reply(respond(200, {"data": [{"b64_json": "%%%"}]}).body)
    assert caught.value.code == "INVALID_IMAGE"
    remote = parse_images_reply(
        respond(200, {"data": [{"url": "https://x/y.png"}]}).body
    )
    assert (remote.status, remote.error_code) == ("failed", "NO_IMAGE")


@pytest.mark.parametrize(
    ("usage", "split"),
    [
        # OpenAI: reasoning inside completion_tokens
        (
            {"prompt_tokens": 10, "completion_tokens": 250, "total_tokens": 260,
             "completion_tokens_details": {"reasoning_tokens": 200}},
            (10, 50, 200, 260),
        ),
        # an aggregator: reasoning outside completion_tokens, in the details and the total
        (
            {"prompt_tokens": 10, "completion_tokens": 50, "total_tokens": 260,
             "completion_tokens_details": {"reasoning_tokens": 200}},
            (10, 50, 200, 260),
        ),
        # Google's endpoint: no details, thinking only in the total
        ({"prompt_tokens": 35, "completion_tokens": 12, "total_tokens": 109}, (35, 12, 62, 109)),
        # no thinking at all
        ({"prompt_tokens": 35, "completion_tokens": 12, "total_tokens": 47}, (35, 12, 0, 47)),
        # no total: reasoning larger than the completion cannot be inside it
        (
            {"prompt_tokens": 10, "completion_tokens": 50,
             "completion_tokens_details": {"reasoning_tokens": 200}},
            (10, 50, 200, 260),
        ),
        # no total, reasoning inside (OpenAI)
        (
            {"prompt_tokens": 10, "completion_tokens": 250,
             "completion_tokens_details": {"reasoning_tokens": 200}},
            (10, 50, 200, 260),
        ),
    ],
)  # fmt: skip
def test_every_usage_shape_splits_into_parts_that_add_up(
    usage: dict[str, object], split: tuple[int, int, int, int]
) -> None:
    parsed = usage_from(usage)
    got = (
        parsed.input_tokens,
        parsed.output_tokens,
        parsed.thinking_tokens,
        parsed.total_tokens,
    )
    assert got == split
    assert (
        parsed.input_tokens + parsed.output_tokens + parsed.thinking_tokens
        == parsed.total_tokens
    )
