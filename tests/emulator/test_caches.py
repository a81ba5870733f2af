"""Explicit context caches over HTTP (`cachedContents`), their use in generateContent, countTokens
and the OpenAI-compatible route, expiry, Vertex paths, implicit caching, and the ledger."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from emuhelp import FLASH, KEY, PRO, Emu, MakeEmu, text_body

from pipeline.emulator import billing

CACHES = "/v1beta/cachedContents"
DOC = "word " * 1200  # 6,000 characters: 1,500 tokens
DOC_TOKENS = 1500


def cache_body(model: str = FLASH, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": f"models/{model}",
        "contents": [{"role": "user", "parts": [{"text": DOC}]}],
    }
    body.update(extra)
    return body


async def request(
    emu: Emu, method: str, path: str, body: Any = None, key: str = KEY
) -> tuple[int, Any]:
    async with emu.session.request(
        method, emu.base_url + path, json=body, headers={"x-goog-api-key": key}
    ) as resp:
        return resp.status, await resp.json()


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def test_create_get_list_update_delete(emu: Emu) -> None:
    status, made = await request(
        emu, "POST", CACHES, cache_body(displayName="doc", ttl="300s")
    )
    assert status == 200, made
    assert set(made) == {
        "name", "model", "createTime", "updateTime", "expireTime", "displayName", "usageMetadata"
    }  # fmt: skip
    assert made["name"].startswith("cachedContents/") and len(made["name"]) == 15 + 40
    assert made["model"] == f"models/{FLASH}" and made["displayName"] == "doc"
    assert made["usageMetadata"] == {"totalTokenCount": DOC_TOKENS}
    assert stamp(made["expireTime"]) - stamp(made["createTime"]) == pytest.approx(
        300, abs=0.01
    )
    assert made["createTime"] == made["updateTime"] and made["createTime"].endswith("Z")

    status, got = await request(emu, "GET", f"/v1beta/{made['name']}")
    assert (status, got) == (200, made)
    status, listed = await request(emu, "GET", CACHES)
    assert status == 200 and listed == {"cachedContents": [made]}

    await asyncio.sleep(0.01)
    status, patched = await request(
        emu, "PATCH", f"/v1beta/{made['name']}", {"ttl": "600s"}
    )
    assert status == 200
    assert stamp(patched["expireTime"]) - stamp(patched["updateTime"]) == pytest.approx(
        600, abs=0.01
    )
    assert patched["updateTime"] > patched["createTime"] == made["createTime"]
    status, patched = await request(
        emu, "PATCH", f"/v1beta/{made['name']}?updateMask=expireTime",
        {"expireTime": "2099-01-02T03:04:05.5Z"},
    )  # fmt: skip
    assert status == 200 and patched["expireTime"] == "2099-01-02T03:04:05.500000Z"

    assert await request(emu, "DELETE", f"/v1beta/{made['name']}") == (200, {})
    status, gone = await request(emu, "GET", f"/v1beta/{made['name']}")
    assert status == 403 and gone["error"] == {
        "code": 403,
        "message": "CachedContent not found (or permission denied)",
        "status": "PERMISSION_DENIED",
    }
    assert await request(emu, "GET", CACHES) == (200, {})
    assert (await request(emu, "DELETE", f"/v1beta/{made['name']}"))[0] == 403


async def test_defaults_and_other_versions(emu: Emu) -> None:
    status, made = await request(
        emu, "POST", "/v1/cachedContents", cache_body(model=FLASH)
    )
    assert status == 200 and made["displayName"] == ""
    assert stamp(made["expireTime"]) - stamp(made["createTime"]) == pytest.approx(
        3600, abs=0.01
    )
    assert (await request(emu, "GET", f"/v1alpha/{made['name']}"))[0] == 200


async def test_a_cache_belongs_to_its_key(make_emu: MakeEmu) -> None:
    emu = await make_emu(api_key=None)
    _, made = await request(emu, "POST", CACHES, cache_body(), key="project-a")
    assert (await request(emu, "GET", f"/v1beta/{made['name']}", key="project-b"))[
        0
    ] == 403
    assert await request(emu, "GET", CACHES, key="project-b") == (200, {})
    question = {"role": "user", "parts": [{"text": "q"}]}
    body = {"contents": [question], "cachedContent": made["name"]}
    assert (await emu.generate(body, key="project-b"))[0] == 403
    assert (await emu.generate(body, key="project-a"))[0] == 200


@pytest.mark.parametrize(("model", "minimum"), [(FLASH, 1024), (PRO, 4096)])
async def test_too_small_for_the_model(emu: Emu, model: str, minimum: int) -> None:
    small = cache_body(
        model, contents=[{"role": "user", "parts": [{"text": "x" * 64}]}]
    )
    status, reply = await request(emu, "POST", CACHES, small)
    assert status == 400 and reply["error"]["status"] == "INVALID_ARGUMENT"
    assert reply["error"]["message"] == (
        f"Cached content is too small. total_token_count=16, min_total_token_count={minimum}"
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (cache_body(model="gemini-0-nope"), "is not found for API version v1beta"),
        ({"contents": cache_body()["contents"]}, "model is required"),
        (cache_body(bogus=1), 'Unknown name "bogus"'),
        (cache_body(ttl="5 minutes"), "google.protobuf.Duration"),
        (
            cache_body(ttl="60s", expireTime="2099-01-01T00:00:00Z"),
            "oneof field 'expiration'",
        ),
        (cache_body(expireTime="tomorrow"), "google.protobuf.Timestamp"),
        (cache_body(contents=[{"role": "user", "parts": []}]), "must not be empty"),
    ],
)
async def test_create_validation(emu: Emu, body: dict[str, Any], fragment: str) -> None:
    status, reply = await request(emu, "POST", CACHES, body)
    assert status in (400, 404) and fragment in reply["error"]["message"], reply


async def test_patch_can_change_only_the_expiration(emu: Emu) -> None:
    _, made = await request(emu, "POST", CACHES, cache_body())
    path = f"/v1beta/{made['name']}"
    status, reply = await request(
        emu, "PATCH", path + "?updateMask=displayName", {"displayName": "x"}
    )
    assert status == 400
    status, reply = await request(
        emu, "PATCH", path, {"name": made["name"], "ttl": "5s"}
    )
    assert status == 400 and "Cannot set 'name'" in reply["error"]["message"]
    assert (await request(emu, "PATCH", "/v1beta/cachedContents/nope", {"ttl": "5s"}))[
        0
    ] == 403


async def test_generate_with_a_cache_bills_the_prefix_as_cached(emu: Emu) -> None:
    _, made = await request(
        emu, "POST", CACHES,
        cache_body(systemInstruction={"parts": [{"text": "Answer in one line."}]}),
    )  # fmt: skip
    cached_tokens = made["usageMetadata"]["totalTokenCount"]
    assert cached_tokens == DOC_TOKENS + 5
    question = {"role": "user", "parts": [{"text": "What is it about?"}]}
    status, reply = await emu.generate(
        {"contents": [question], "cachedContent": made["name"]}
    )
    assert status == 200, reply
    usage = reply["usageMetadata"]
    assert usage["promptTokenCount"] == cached_tokens + 5
    assert usage["cachedContentTokenCount"] == cached_tokens
    assert usage["cacheTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": cached_tokens}
    ]
    assert usage["promptTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": cached_tokens + 5}
    ]
    # The same request written out in full gets the same reply, without the cache fields.
    inline = {
        "systemInstruction": {"parts": [{"text": "Answer in one line."}]},
        "contents": [{"role": "user", "parts": [{"text": DOC}]}, question],
    }
    _, plain = await emu.generate(inline)
    assert (
        plain["candidates"][0]["content"]["parts"][0]["text"]
        == (reply["candidates"][0]["content"]["parts"][0]["text"])
    )
    assert "cachedContentTokenCount" not in plain["usageMetadata"]

    ledger = emu.ledger()
    assert ledger["tokens"]["cached"] == cached_tokens
    caches = ledger["caches"]
    assert caches["created"] == 1 and caches["alive"] == 1
    assert (
        caches["creation_tokens"] == cached_tokens
        and caches["cached_input_tokens"] == cached_tokens
    )
    price = billing.price(FLASH)
    assert price is not None
    detail = ledger["cost_usd_detail"]
    assert detail["cache_creation"] == pytest.approx(cached_tokens * price.input / 1e6)
    assert detail["cached_input"] == pytest.approx(cached_tokens * price.cached / 1e6)
    assert detail["cache_storage"] > 0


async def test_a_cache_forbids_its_own_members_and_other_models(emu: Emu) -> None:
    _, made = await request(emu, "POST", CACHES, cache_body())
    question = {"role": "user", "parts": [{"text": "q"}]}
    for extra in (
        {"systemInstruction": {"parts": [{"text": "again"}]}},
        {"tools": [{"functionDeclarations": [{"name": "f"}]}]},
        {"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}},
    ):
        status, reply = await emu.generate(
            {"contents": [question], "cachedContent": made["name"], **extra}
        )
        assert status == 400 and reply["error"]["message"] == (
            "CachedContent can not be used with GenerateContent request setting system_instruction, "
            "tools or tool_config.\n\nProposed fix: move those values to CachedContent from "
            "GenerateContent request."
        )
    status, reply = await emu.generate(
        {"contents": [question], "cachedContent": made["name"]}, model=PRO
    )
    assert status == 400 and reply["error"]["message"] == (
        f"Model used by GenerateContent request (models/{PRO}) and CachedContent "
        f"(models/{FLASH}) has to be the same."
    )
    status, reply = await emu.generate(
        {"contents": [question], "cachedContent": "cachedContents/nope"}
    )
    assert status == 403 and reply["error"]["status"] == "PERMISSION_DENIED"


async def test_cached_tools_are_used(emu: Emu) -> None:
    tools = [{"functionDeclarations": [{"name": "lookup", "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}}}]}]  # fmt: skip
    _, made = await request(emu, "POST", CACHES, cache_body(tools=tools))
    status, reply = await emu.generate(
        {"contents": [{"role": "user", "parts": [{"text": "call:lookup now"}]}], "cachedContent": made["name"]}
    )  # fmt: skip
    assert status == 200
    assert (
        reply["candidates"][0]["content"]["parts"][0]["functionCall"]["name"]
        == "lookup"
    )


async def test_expired_caches_vanish_and_bill_their_lifetime(emu: Emu) -> None:
    _, made = await request(emu, "POST", CACHES, cache_body(ttl="0.3s"))
    assert (await request(emu, "GET", f"/v1beta/{made['name']}"))[0] == 200
    await asyncio.sleep(0.4)
    assert (await request(emu, "GET", f"/v1beta/{made['name']}"))[0] == 403
    question = {"role": "user", "parts": [{"text": "q"}]}
    assert (
        await emu.generate({"contents": [question], "cachedContent": made["name"]})
    )[0] == 403
    assert await request(emu, "GET", CACHES) == (200, {})
    caches = emu.ledger()["caches"]
    assert (
        caches["created"],
        caches["expired"],
        caches["alive"],
        caches["deleted"],
    ) == (1, 1, 0, 0)
    assert caches["storage_token_hours"] == pytest.approx(
        DOC_TOKENS * 0.3 / 3600, rel=0.05
    )


async def test_list_pages(emu: Emu) -> None:
    names = []
    for _ in range(3):
        names.append((await request(emu, "POST", CACHES, cache_body()))[1]["name"])
    status, first = await request(emu, "GET", CACHES + "?pageSize=2")
    assert status == 200 and [c["name"] for c in first["cachedContents"]] == names[:2]
    status, rest = await request(
        emu, "GET", CACHES + f"?pageSize=2&pageToken={first['nextPageToken']}"
    )
    assert [c["name"] for c in rest["cachedContents"]] == names[
        2:
    ] and "nextPageToken" not in rest


async def test_count_tokens_with_a_cache(emu: Emu) -> None:
    _, made = await request(emu, "POST", CACHES, cache_body())
    body = {
        "generateContentRequest": {
            "model": f"models/{FLASH}",
            "contents": [{"role": "user", "parts": [{"text": "twelve chars"}]}],
            "cachedContent": made["name"],
        }
    }
    status, reply, _ = await emu.post(f"/v1beta/models/{FLASH}:countTokens", body)
    assert status == 200
    assert (
        reply["totalTokens"] == DOC_TOKENS + 3
        and reply["cachedContentTokenCount"] == DOC_TOKENS
    )


async def test_openai_compat_uses_a_cache(emu: Emu) -> None:
    _, made = await request(emu, "POST", CACHES, cache_body())
    body = {
        "model": FLASH,
        "messages": [{"role": "user", "content": "hi"}],
        "extra_body": {"google": {"cached_content": made["name"]}},
    }
    status, reply, _ = await emu.openai("/chat/completions", body)
    assert status == 200
    assert reply["usage"]["prompt_tokens_details"]["cached_tokens"] == DOC_TOKENS
    assert reply["usage"]["prompt_tokens"] == DOC_TOKENS + 1


async def test_vertex_cached_contents(emu: Emu) -> None:
    base = "/v1beta1/projects/p/locations/us-central1"
    headers = {"Authorization": f"Bearer {KEY}"}
    model = f"projects/p/locations/us-central1/publishers/google/models/{FLASH}"
    status, made, _ = await emu.post(
        f"{base}/cachedContents",
        cache_body() | {"model": model},
        key=None,
        headers=headers,
    )
    assert status == 200, made
    assert made["name"].startswith("projects/p/locations/us-central1/cachedContents/")
    assert made["model"] == model
    status, reply, _ = await emu.post(
        f"{base}/publishers/google/models/{FLASH}:generateContent",
        {
            "contents": [{"role": "user", "parts": [{"text": "q"}]}],
            "cachedContent": made["name"],
        },
        key=None,
        headers=headers,
    )
    assert (
        status == 200
        and reply["usageMetadata"]["cachedContentTokenCount"] == DOC_TOKENS
    )
    small = cache_body(contents=[{"role": "user", "parts": [{"text": "tiny"}]}]) | {
        "model": model
    }
    status, reply, _ = await emu.post(
        f"{base}/cachedContents", small, key=None, headers=headers
    )
    assert status == 400 and reply["error"]["message"] == (
        "The cached content is of 1 tokens. The minimum token count to start explicit caching is 1024."
    )


async def test_ledger_reset_keeps_live_caches(emu: Emu) -> None:
    _, made = await request(emu, "POST", CACHES, cache_body())
    await emu.post("/_emulator/reset", {})
    assert emu.ledger()["caches"]["alive"] == 1
    assert (await request(emu, "DELETE", f"/v1beta/{made['name']}"))[0] == 200
    assert emu.ledger()["caches"]["deleted"] == 1


async def test_implicit_caching_is_off_by_default(emu: Emu) -> None:
    system = {"parts": [{"text": DOC}]}
    for i in range(2):
        _, reply = await emu.generate(
            {"systemInstruction": system, **text_body(f"q{i}")}
        )
        assert "cachedContentTokenCount" not in reply["usageMetadata"]


async def test_implicit_caching_reports_repeated_prefixes(make_emu: MakeEmu) -> None:
    emu = await make_emu(implicit_cache=True, api_key=None)
    system = {"parts": [{"text": DOC}]}
    _, first = await emu.generate(
        {"systemInstruction": system, **text_body("first question")}
    )
    assert "cachedContentTokenCount" not in first["usageMetadata"]
    _, second = await emu.generate(
        {"systemInstruction": system, **text_body("second question")}
    )
    assert second["usageMetadata"]["cachedContentTokenCount"] == DOC_TOKENS
    # A shared leading part in the user turn counts too; a short prefix (below 1,024 tokens) never does.
    doc_part = {"text": DOC}
    for i in range(2):
        _, reply = await emu.generate(
            {"contents": [{"role": "user", "parts": [doc_part, {"text": f"ask {i}"}]}]}
        )
    assert reply["usageMetadata"]["cachedContentTokenCount"] == DOC_TOKENS
    for i in range(2):
        _, reply = await emu.generate(text_body("short prompt " + str(i)))
    assert "cachedContentTokenCount" not in reply["usageMetadata"]
    # Another key does not share the prefixes.
    _, other = await emu.generate(
        {"systemInstruction": system, **text_body("third")}, key="k2"
    )
    assert "cachedContentTokenCount" not in other["usageMetadata"]
    ledger = emu.ledger()
    assert ledger["caches"]["implicit_cached_tokens"] == 2 * DOC_TOKENS
    assert (
        ledger["caches"]["created"] == 0
        and ledger["tokens"]["cached"] == 2 * DOC_TOKENS
    )


async def test_streaming_with_a_cache(emu: Emu) -> None:
    _, made = await request(emu, "POST", CACHES, cache_body())
    body = {
        "contents": [{"role": "user", "parts": [{"text": "stream it"}]}],
        "cachedContent": made["name"],
    }
    async with emu.session.post(
        f"{emu.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse",
        json=body,
        headers={"x-goog-api-key": KEY},
    ) as resp:
        text = await resp.text()
    import json

    chunks = [
        json.loads(line[6:]) for line in text.split("\r\n") if line.startswith("data: ")
    ]
    assert chunks and all(
        c["usageMetadata"]["cachedContentTokenCount"] == DOC_TOKENS for c in chunks
    )
