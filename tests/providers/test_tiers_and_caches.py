"""Service tiers and explicit context caches on the wire: how each door asks for a tier, how a request names a
cache, the cachedContents requests, and the errors that mean "Flex is full" or "the cache is gone"."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from pipeline.emulator.tiers import requested_tier
from pipeline.errors import CacheGone, CredentialsError, RateLimited, ServerError
from pipeline.providers import (
    GeminiProvider,
    OpenAIProvider,
    StaticCredentials,
    VertexProvider,
)
from pipeline.records import GenerationSettings, HttpRequest, HttpResponse, Part, Prompt

TOOLS = (
    {"name": "lookup", "description": "Find it", "parameters": {"type": "object"}},
)
PROMPT = Prompt(
    row_id="r1",
    model="gemini-3-flash-preview",
    parts=(Part(text="Summarise."),),
    generation=GenerationSettings(tools=TOOLS),
    system="You are brief.",
)
Respond = Callable[..., HttpResponse]


def at(tier: str | None) -> Prompt:
    return replace(PROMPT, generation=replace(PROMPT.generation, service_tier=tier))


def body(request: HttpRequest) -> dict[str, object]:
    assert isinstance(request.body, bytes)
    return json.loads(request.body)  # type: ignore[no-any-return]


@pytest.fixture
def gemini(gemini_credentials: StaticCredentials) -> GeminiProvider:
    return GeminiProvider(
        model="gemini-3-flash-preview",
        credentials=gemini_credentials,
        base_url="http://h",
    )


@pytest.fixture
def vertex(bearer_credentials: StaticCredentials) -> VertexProvider:
    return VertexProvider(
        model="gemini-3-flash-preview",
        credentials=bearer_credentials,
        project="p",
        base_url="http://h",
    )


@pytest.mark.parametrize("tier", ["flex", "priority"])
def test_gemini_asks_for_the_tier_at_the_top_of_the_body(
    gemini: GeminiProvider, tier: str
) -> None:
    request = gemini.build(at(tier), timeout_s=899.5)
    assert body(request)["serviceTier"] == tier
    assert requested_tier(body(request), request.headers) == tier
    timeout = request.headers.get("X-Server-Timeout")
    assert timeout == ("900" if tier == "flex" else None)  # whole seconds, rounded up
    assert request.timeout_s == 899.5


@pytest.mark.parametrize("tier", [None, "standard", "auto"])
def test_standard_sends_no_tier_and_the_same_bytes_as_before(
    gemini: GeminiProvider, tier: str | None
) -> None:
    request = gemini.build(at(tier), timeout_s=600)
    assert "serviceTier" not in body(request)
    assert "X-Server-Timeout" not in request.headers
    assert request.body == gemini.build(at(None), timeout_s=600).body


@pytest.mark.parametrize("tier", ["flex", "priority"])
def test_vertex_asks_for_the_tier_with_its_header(
    vertex: VertexProvider, tier: str
) -> None:
    request = vertex.build(at(tier), timeout_s=900)
    assert request.headers["X-Vertex-AI-LLM-Shared-Request-Type"] == tier
    assert "serviceTier" not in body(request)
    assert requested_tier(body(request), request.headers, "vertex") == tier
    assert (
        vertex.build(at("standard")).headers.get("X-Vertex-AI-LLM-Shared-Request-Type")
        is None
    )


@pytest.mark.parametrize("tier", ["flex", "priority"])
def test_openai_door_sends_service_tier(
    bearer_credentials: StaticCredentials, tier: str
) -> None:
    provider = OpenAIProvider(
        model="gemini-3-flash-preview",
        credentials=bearer_credentials,
        base_url="http://h/v1",
    )
    sent = body(provider.build(at(tier)))
    assert sent["service_tier"] == tier
    assert requested_tier(sent, {}, "openai") == tier
    assert "service_tier" not in body(provider.build(at("standard")))


def test_a_cached_request_names_the_cache_and_leaves_out_what_it_holds(
    gemini: GeminiProvider,
) -> None:
    cached = replace(at("flex"), cached_content="cachedContents/abc")
    sent = body(gemini.build(cached))
    assert sent["cachedContent"] == "cachedContents/abc"
    assert "systemInstruction" not in sent and "tools" not in sent
    assert sent["serviceTier"] == "flex"
    full = body(gemini.build(at(None)))
    assert "systemInstruction" in full and "tools" in full


def test_cache_requests_on_the_gemini_api(gemini: GeminiProvider) -> None:
    prefix = replace(PROMPT, parts=(Part(mime_type="text/plain", data=b"shared"),))
    create = gemini.build_create_cache(prefix, ttl_s=3600, display_name="job")
    assert (create.method, create.url) == ("POST", "http://h/v1beta/cachedContents")
    sent = body(create)
    assert sent["model"] == "models/gemini-3-flash-preview"
    assert sent["ttl"] == "3600s" and sent["displayName"] == "job"
    assert sent["systemInstruction"] == {"parts": [{"text": "You are brief."}]}
    assert sent["tools"][0]["functionDeclarations"][0]["name"] == "lookup"  # type: ignore[index]
    assert sent["contents"][0]["parts"][0]["inlineData"]["data"] == "c2hhcmVk"  # type: ignore[index]
    name = "cachedContents/abc"
    assert gemini.build_get_cache(name).url == "http://h/v1beta/cachedContents/abc"
    update = gemini.build_update_cache(name, ttl_s=1.5)
    assert (update.method, body(update)) == ("PATCH", {"ttl": "1.5s"})
    assert gemini.build_delete_cache(name).method == "DELETE"


def test_cache_requests_on_vertex(vertex: VertexProvider) -> None:
    create = vertex.build_create_cache(PROMPT, ttl_s=60, display_name="job")
    assert create.url == "http://h/v1beta1/projects/p/locations/global/cachedContents"
    assert body(create)["model"] == (
        "projects/p/locations/global/publishers/google/models/gemini-3-flash-preview"
    )
    name = "projects/p/locations/global/cachedContents/xyz"
    assert vertex.build_get_cache(name).url == (
        "http://h/v1beta1/projects/p/locations/global/cachedContents/xyz"
    )


def test_the_cache_resource_and_a_gone_cache(
    gemini: GeminiProvider, respond: Respond
) -> None:
    resource = {
        "name": "cachedContents/abc",
        "model": "models/gemini-3-flash-preview",
        "expireTime": "2026-12-03T09:00:00.123456Z",
        "usageMetadata": {"totalTokenCount": 1504},
    }
    cache = gemini.parse_cache(respond(200, resource))
    assert (cache.name, cache.tokens) == ("cachedContents/abc", 1504)
    assert cache.expire_at is not None and cache.expire_at.hour == 9
    gone = {
        "error": {
            "code": 403,
            "message": "CachedContent not found (or permission denied)",
            "status": "PERMISSION_DENIED",
        }
    }
    with pytest.raises(CacheGone):
        gemini.parse_cache(respond(403, gone))
    # The same 403 on generateContent: the cache expired, not a refused key.
    with pytest.raises(CacheGone):
        gemini.parse(respond(403, gone), PROMPT)
    refused = {
        "error": {
            "code": 403,
            "message": "Permission denied",
            "status": "PERMISSION_DENIED",
        }
    }
    with pytest.raises(CredentialsError):
        gemini.parse(respond(403, refused), PROMPT)


def test_a_429_says_whether_it_names_a_quota(
    gemini: GeminiProvider, respond: Respond
) -> None:
    quota = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}
                    ],
                }
            ],
        }
    }
    with pytest.raises(RateLimited) as limited:
        gemini.parse(respond(429, quota), PROMPT)
    assert limited.value.quota_ids == ("GenerateRequestsPerMinutePerProjectPerModel",)
    full = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                      "status": "RESOURCE_EXHAUSTED"}}  # fmt: skip
    with pytest.raises(RateLimited) as shed:
        gemini.parse(respond(429, full), PROMPT)
    assert shed.value.quota_ids == ()
    busy = {
        "error": {
            "code": 503,
            "message": "The system is currently at capacity.",
            "status": "UNAVAILABLE",
        }
    }
    with pytest.raises(ServerError):
        gemini.parse(respond(503, busy), PROMPT)


def test_the_openai_door_reads_the_served_tier_from_the_header(
    bearer_credentials: StaticCredentials, respond: Respond
) -> None:
    provider = OpenAIProvider(
        model="gemini-3-flash-preview",
        credentials=bearer_credentials,
        base_url="http://h/v1",
    )
    completion = {
        "choices": [
            {"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    reply = provider.parse(
        respond(200, completion, {"x-gemini-service-tier": "standard"}), PROMPT
    )
    assert reply.service_tier == "standard"
    assert (
        provider.parse(
            respond(200, {**completion, "service_tier": "flex"}), PROMPT
        ).service_tier
        == "flex"
    )
