"""Usage by modality and the served tier, from reply shapes recorded against the live services.

The fixtures keep the recorded `usageMetadata` as it came (their text is shortened):
- gemini_reply_usage_pdf_standard.json: gemini-3.1-pro-preview on the Gemini API, a native PDF (itemised under
  IMAGE, as Gemini 3 does), `serviceTier: "standard"` (a public review log of 2026-07-13);
- gemini_reply_usage_cached_image.json: gemini-2.5-flash, an image prompt with an implicit cache hit, with
  `cacheTokensDetails` (a public debugging note);
- vertex_reply_traffic_type.json: gemini-3-flash-preview through Vertex AI, `trafficType: "ON_DEMAND"`
  (a public gateway's documentation, 2026-07-14).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from pipeline.catalog import cost_usd, price_for
from pipeline.providers import (
    GeminiProvider,
    OpenAIProvider,
    StaticCredentials,
    VertexProvider,
)
from pipeline.records import GenerationSettings, HttpResponse, Part, Prompt, Usage

PROMPT = Prompt(
    row_id="r1",
    model="gemini-3.1-pro-preview",
    parts=(Part(text="Review the paper."),),
    generation=GenerationSettings(),
)
Respond = Callable[..., HttpResponse]


@pytest.fixture
def gemini(gemini_credentials: StaticCredentials) -> GeminiProvider:
    return GeminiProvider(
        model="gemini-3.1-pro-preview", credentials=gemini_credentials
    )


@pytest.fixture
def vertex(bearer_credentials: StaticCredentials) -> VertexProvider:
    return VertexProvider(
        model="gemini-3-flash-preview", credentials=bearer_credentials, project="p"
    )


def test_prompt_details_by_modality_and_the_served_tier(
    gemini: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = gemini.parse(
        fixture_response("gemini_reply_usage_pdf_standard.json"), PROMPT
    )
    usage = reply.usage
    assert (usage.input_tokens, usage.output_tokens, usage.thinking_tokens) == (
        32_334,
        645,
        2_311,
    )
    assert usage.input_by_modality == {"image": 32_240, "text": 94}
    assert usage.cached_by_modality is None
    assert reply.service_tier == "standard"
    # At 3.1 Pro Preview's prices: no audio, so the breakdown changes nothing.
    price = price_for("gemini-3.1-pro-preview", on=date(2026, 12, 3))
    assert cost_usd(usage, price) == pytest.approx(
        (32_334 * 2.0 + (645 + 2_311) * 12.0) / 1e6
    )


def test_cache_details_by_modality(
    gemini: GeminiProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = gemini.parse(
        fixture_response("gemini_reply_usage_cached_image.json"), PROMPT
    )
    usage = reply.usage
    assert (usage.input_tokens, usage.cached_tokens) == (326, 173)
    assert usage.input_by_modality == {"text": 68, "image": 258}
    assert usage.cached_by_modality == {"image": 137, "text": 36}
    assert reply.service_tier is None  # the reply does not say


def test_vertex_traffic_type_is_the_tier(
    vertex: VertexProvider, fixture_response: Callable[..., HttpResponse]
) -> None:
    reply = vertex.parse(fixture_response("vertex_reply_traffic_type.json"), PROMPT)
    assert reply.service_tier == "standard"
    assert reply.usage.input_by_modality == {"text": 8}
    assert (reply.usage.output_tokens, reply.usage.thinking_tokens) == (677, 447)


@pytest.mark.parametrize(
    ("traffic", "tier"),
    [
        ("ON_DEMAND", "standard"),
        ("ON_DEMAND_FLEX", "flex"),
        ("ON_DEMAND_PRIORITY", "priority"),
        ("PROVISIONED_THROUGHPUT", "provisioned_throughput"),
        ("TRAFFIC_TYPE_UNSPECIFIED", None),
    ],
)
def test_vertex_traffic_types(
    vertex: VertexProvider,
    fixture_json: Callable[[str], Any],
    respond: Respond,
    traffic: str,
    tier: str | None,
) -> None:
    body = fixture_json("vertex_reply_traffic_type.json")
    body["usageMetadata"]["trafficType"] = traffic
    assert vertex.parse(respond(200, body), PROMPT).service_tier == tier


def test_the_header_says_when_priority_was_downgraded(
    gemini: GeminiProvider, fixture_json: Callable[[str], Any], respond: Respond
) -> None:
    # Over the Priority limit a request is served (and billed) at standard; the header is the documented check.
    body = fixture_json("gemini_reply_usage_pdf_standard.json")
    body["usageMetadata"]["serviceTier"] = "priority"
    reply = gemini.parse(
        respond(200, body, {"x-gemini-service-tier": "standard"}), PROMPT
    )
    assert reply.service_tier == "standard"
    body["usageMetadata"]["serviceTier"] = "SERVICE_TIER_FLEX"
    assert gemini.parse(respond(200, body), PROMPT).service_tier == "flex"


def test_a_blocked_reply_keeps_its_tier(
    gemini: GeminiProvider, respond: Respond
) -> None:
    body = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 7, "serviceTier": "flex"},
    }
    reply = gemini.parse(respond(200, body), PROMPT)
    assert (reply.status, reply.service_tier) == ("blocked", "flex")


@pytest.mark.parametrize(
    ("sent", "tier"), [("default", "standard"), ("flex", "flex"), (None, None)]
)
def test_openai_service_tier(
    bearer_credentials: StaticCredentials,
    respond: Respond,
    sent: str | None,
    tier: str | None,
) -> None:
    provider = OpenAIProvider(
        model="gemini-3.8-flash",
        credentials=bearer_credentials,
        base_url="https://api.example.com/v1",
    )
    body: dict[str, Any] = {
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    if sent is not None:
        body["service_tier"] = sent
    assert provider.parse(respond(200, body), PROMPT).service_tier == tier


def test_the_breakdown_is_not_part_of_equality_and_sums() -> None:
    plain = Usage(input_tokens=10, cached_tokens=4)
    detailed = Usage(
        input_tokens=10,
        cached_tokens=4,
        input_by_modality={"audio": 6, "text": 4},
        cached_by_modality={"text": 4},
    )
    assert plain == detailed  # what the journal gives back equals what was parsed
    total = detailed + detailed
    assert total.input_by_modality == {"audio": 12, "text": 8}
    assert (Usage() + detailed).input_by_modality == {"audio": 6, "text": 4}
    # A side with tokens but no breakdown makes the sum's breakdown unknown, not wrong.
    assert (plain + detailed).input_by_modality is None


# --- the provider's own model list (`pipeline models`) --------------------------------------------------------


def test_gemini_lists_models_page_by_page(
    gemini: GeminiProvider, respond: Respond
) -> None:
    first = gemini.build_list_models()
    assert first.method == "GET"
    assert (
        first.url
        == "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1000"
    )
    assert first.headers["x-goog-api-key"] and first.body is None
    names, token = gemini.parse_list_models(
        respond(
            200,
            {
                "models": [
                    {
                        "name": "models/gemini-3.8-flash",
                        "displayName": "Gemini 3.8 Flash",
                    },
                    {"name": "models/gemini-embedding-2"},
                ],
                "nextPageToken": "abc/=",
            },
        )
    )
    assert (names, token) == (["gemini-3.8-flash", "gemini-embedding-2"], "abc/=")
    assert gemini.build_list_models(token).url.endswith(
        "pageSize=1000&pageToken=abc%2F%3D"
    )
    assert gemini.parse_list_models(respond(200, {"models": []})) == ([], None)


def test_a_refused_key_on_the_list_is_a_credentials_error(
    gemini: GeminiProvider, respond: Respond
) -> None:
    from pipeline.errors import CredentialsError

    body = {
        "error": {
            "code": 403,
            "message": "Permission denied",
            "status": "PERMISSION_DENIED",
        }
    }
    with pytest.raises(CredentialsError):
        gemini.parse_list_models(respond(403, body))


def test_openai_lists_models(
    bearer_credentials: StaticCredentials, respond: Respond
) -> None:
    provider = OpenAIProvider(
        model="", credentials=bearer_credentials, base_url="https://api.example.com/v1/"
    )
    request = provider.build_list_models()
    assert (request.method, request.url) == ("GET", "https://api.example.com/v1/models")
    body = {
        "object": "list",
        "data": [
            {
                "id": "models/gemini-3.8-flash",
                "object": "model",
            },  # Google's compatible endpoint
            {
                "id": "gemini-3-pro-image-preview",
                "object": "model",
            },  # an aggregator's old name
        ],
    }
    assert provider.parse_list_models(respond(200, body)) == (
        ["gemini-3.8-flash", "gemini-3-pro-image-preview"],
        None,
    )


def test_vertex_has_no_model_list(vertex: VertexProvider) -> None:
    with pytest.raises(NotImplementedError):
        vertex.build_list_models()
