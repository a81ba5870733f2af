"""Vertex: Gemini's body and replies with Vertex URLs, bearer tokens and no Files API."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from pipeline.errors import CredentialsError
from pipeline.providers import GeminiProvider, StaticCredentials, VertexProvider
from pipeline.records import GenerationSettings, HttpResponse, Part, Prompt

PROMPT = Prompt(
    row_id="r1",
    model="gemini-3.1-pro-preview",
    parts=(Part(text="Hello"),),
    generation=GenerationSettings(thinking_level="high", max_output_tokens=100),
    system="Be brief.",
)
TOKEN = "ya29.token-value-abcdef"


@pytest.fixture
def credentials() -> StaticCredentials:
    return StaticCredentials("VERTEX_ACCESS_TOKEN", "authorization", TOKEN, bearer=True)


def vertex(credentials: StaticCredentials, **kwargs: Any) -> VertexProvider:
    return VertexProvider(
        model="gemini-3.1-pro-preview",
        credentials=credentials,
        project="my-proj",
        **kwargs,
    )


@pytest.mark.parametrize(
    ("kwargs", "url"),
    [
        (
            {},
            (
                "https://aiplatform.googleapis.com/v1beta1/projects/my-proj/locations/global/publishers/google/models/"
                "gemini-3.1-pro-preview:generateContent"
            ),
        ),
        (
            {"location": "europe-west4"},
            (
                "https://europe-west4-aiplatform.googleapis.com/v1beta1/projects/my-proj/locations/europe-west4/"
                "publishers/google/models/gemini-3.1-pro-preview:generateContent"
            ),
        ),
        (
            {"base_url": "http://127.0.0.1:8089/"},
            (
                "http://127.0.0.1:8089/v1beta1/projects/my-proj/locations/global/publishers/google/models/"
                "gemini-3.1-pro-preview:generateContent"
            ),
        ),
    ],
)
def test_urls(
    credentials: StaticCredentials, kwargs: Mapping[str, Any], url: str
) -> None:
    assert vertex(credentials, **kwargs).build(PROMPT).url == url


def test_same_body_as_gemini_with_bearer_and_quota_project(
    credentials: StaticCredentials, gemini_credentials: StaticCredentials
) -> None:
    request = vertex(credentials, quota_project="billing-proj").build(
        PROMPT, timeout_s=30
    )
    gemini = GeminiProvider(
        model="gemini-3.1-pro-preview", credentials=gemini_credentials
    ).build(PROMPT)
    assert request.body == gemini.body
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-goog-user-project"] == "billing-proj"
    assert "x-goog-api-key" not in request.headers
    assert request.timeout_s == 30


def test_replies_parse_like_gemini(
    credentials: StaticCredentials, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = vertex(credentials).parse(
        fixture_response("gemini_reply_function_call.json"), PROMPT
    )
    assert reply.function_calls == '[{"name":"list_files","args":{}}]'
    assert reply.usage.thinking_tokens == 211


def test_count_tokens_takes_fields_at_the_top_level(
    credentials: StaticCredentials,
) -> None:
    request = vertex(credentials).build_count_tokens(PROMPT)
    assert request.url.endswith("/models/gemini-3.1-pro-preview:countTokens")
    assert json.loads(request.body) == {  # type: ignore[arg-type]
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }


def test_no_files_api(credentials: StaticCredentials) -> None:
    provider = vertex(credentials)
    assert not provider.supports_files
    with pytest.raises(NotImplementedError, match="Files API"):
        provider.build_upload_start(size=1, mime_type="image/png", display_name="a")


def test_a_refused_token_names_the_variable(
    credentials: StaticCredentials, respond: Callable[..., HttpResponse]
) -> None:
    body = {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED",
        }
    }
    with pytest.raises(CredentialsError) as caught:
        vertex(credentials).parse(respond(401, body), PROMPT)
    assert "VERTEX_ACCESS_TOKEN" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_headers_follow_a_refreshed_token() -> None:
    class Rotating:
        env_var = "VERTEX_ACCESS_TOKEN"

        def __init__(self) -> None:
            self.current: Mapping[str, str] = {"authorization": "Bearer one"}

        def headers(self) -> Mapping[str, str]:
            return self.current

        def hint(self) -> str:
            return "refresh"

        async def refresh_if_needed(self) -> None:
            return None

    rotating = Rotating()
    provider = VertexProvider(model="m", credentials=rotating, project="p")
    assert provider.build(PROMPT).headers["authorization"] == "Bearer one"
    rotating.current = {"authorization": "Bearer two"}
    assert provider.build(PROMPT).headers["authorization"] == "Bearer two"
