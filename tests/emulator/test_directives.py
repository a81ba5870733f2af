"""Every fault directive through HTTP, and random faults by rate."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
from emuhelp import FLASH, IMAGE, Emu, MakeEmu, text_body

URL = f"/v1beta/models/{FLASH}:generateContent"


async def test_fail_first_attempts_then_answer(emu: Emu) -> None:
    body = text_body("row 1 [[emu:fail=503x2]]")
    statuses = [(await emu.generate(body))[0] for _ in range(3)]
    assert statuses == [503, 503, 200]
    (entry,) = [b for b in emu.ledger()["requests_by_body"] if "row 1" in b["excerpt"]]
    assert (
        entry["count"] == 3
        and entry["ok"] == 1
        and entry["statuses"] == {"200": 1, "503": 2}
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (400, "INVALID_ARGUMENT"),
        (408, "DEADLINE_EXCEEDED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
async def test_fail_with_each_status(emu: Emu, code: int, status: str) -> None:
    got, reply = await emu.generate(text_body(f"[[emu:fail={code}]]"))
    assert (
        got == code
        and reply["error"]["status"] == status
        and reply["error"]["code"] == code
    )


async def test_fail_429_with_retry_info(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("[[emu:fail=429x1,retry=3s]]"))
    assert status == 429 and reply["error"]["status"] == "RESOURCE_EXHAUSTED"
    types = {d["@type"].rsplit(".", 1)[1]: d for d in reply["error"]["details"]}
    assert (
        types["RetryInfo"]["retryDelay"] == "3s"
        and "QuotaFailure" in types
        and "Help" in types
    )
    status, reply = await emu.generate(text_body("[[emu:fail=429x1,retry=1.25s]]"))
    assert [
        d["retryDelay"] for d in reply["error"]["details"] if "retryDelay" in d
    ] == ["1.250s"]
    assert emu.ledger()["rate_limited"] == 2


async def test_fail_429_without_retry_info(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("[[emu:fail=429,retry=none]]"))
    assert status == 429 and not any(
        "retryDelay" in d for d in reply["error"]["details"]
    )


async def test_hang_stalls_then_answers(emu: Emu) -> None:
    started = time.monotonic()
    status, _ = await emu.generate(text_body("[[emu:hang=0.3x1]]"))
    assert status == 200 and time.monotonic() - started >= 0.3
    started = time.monotonic()
    await emu.generate(text_body("[[emu:hang=0.3x1]]"))
    assert time.monotonic() - started < 0.3


async def test_hang_longer_than_the_client_waits(emu: Emu) -> None:
    with pytest.raises(TimeoutError):
        async with emu.session.post(
            emu.base_url + URL,
            json=text_body("[[emu:hang=5]]"),
            headers={"x-goog-api-key": "test-key"},
            timeout=aiohttp.ClientTimeout(total=0.2),
        ) as resp:
            await resp.read()


async def test_reset_closes_the_connection(emu: Emu) -> None:
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await emu.generate(text_body("[[emu:resetx1]]"))
    status, _ = await emu.generate(text_body("[[emu:resetx1]]"))
    assert status == 200
    assert emu.ledger()["requests_by_route"][
        "POST /v1beta/models/{model}:generateContent"
    ] == {"200": 1, "reset": 1}


async def test_malformed_body_is_not_json(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("[[emu:malformed]]"))
    assert status == 200 and isinstance(reply, str)
    with pytest.raises(ValueError):
        json.loads(reply)


async def test_truncated_body_is_cut(emu: Emu) -> None:
    with pytest.raises(aiohttp.ClientPayloadError):
        await emu.generate(text_body("[[emu:truncated]]"))


async def test_block_gives_prompt_feedback_and_no_candidates(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("[[emu:block=PROHIBITED_CONTENT]]"))
    assert status == 200 and "candidates" not in reply
    assert reply["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT"
    assert (
        reply["usageMetadata"]["promptTokenCount"]
        == reply["usageMetadata"]["totalTokenCount"]
        > 0
    )


async def test_finish_safety_has_empty_content_and_blocked_ratings(emu: Emu) -> None:
    _, reply = await emu.generate(text_body("[[emu:finish=SAFETY]]"))
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == "SAFETY" and candidate["content"] == {}
    assert any(r.get("blocked") for r in candidate["safetyRatings"])


async def test_max_tokens_has_no_parts(emu: Emu) -> None:
    _, reply = await emu.generate(text_body("[[emu:max_tokens]]"))
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS" and candidate["content"] == {
        "role": "model"
    }


@pytest.mark.parametrize(
    ("directive", "reason"),
    [("image_safety", "IMAGE_SAFETY"), ("no_image", "NO_IMAGE")],
)
async def test_image_directives_give_no_image(
    emu: Emu, directive: str, reason: str
) -> None:
    _, reply = await emu.generate(
        text_body(f"draw [[emu:{directive}]]", responseModalities=["TEXT", "IMAGE"]),
        model=IMAGE,
    )
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == reason
    assert not any("inlineData" in p for p in candidate["content"].get("parts", []))
    assert "candidatesTokensDetails" not in reply["usageMetadata"]


async def test_latency_directive_delays_the_answer(emu: Emu) -> None:
    started = time.monotonic()
    await emu.generate(text_body("[[emu:latency=0.25]]"))
    assert time.monotonic() - started >= 0.25


async def test_json_invalid_breaks_the_schema_on_the_first_attempt_only(
    emu: Emu,
) -> None:
    import jsonschema

    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
    }
    body = text_body(
        "[[emu:json_invalidx1]]",
        responseMimeType="application/json",
        responseJsonSchema=schema,
    )
    docs = []
    for _ in range(2):
        _, reply = await emu.generate(body)
        docs.append(json.loads(reply["candidates"][0]["content"]["parts"][0]["text"]))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(docs[0], schema)
    jsonschema.validate(docs[1], schema)


async def test_random_faults_follow_the_rate_and_are_reproducible(
    make_emu: MakeEmu,
) -> None:
    async def run(seed: int) -> list[int]:
        emu = await make_emu(fault_rate=0.5, fault_mix=("500", "503"), seed=seed)
        return [(await emu.generate(text_body(f"row {i}")))[0] for i in range(40)]

    first = await run(3)
    assert first == await run(3)
    assert 5 < first.count(200) < 35 and set(first) == {200, 500, 503}


async def test_random_reset_and_hang(make_emu: MakeEmu) -> None:
    emu = await make_emu(fault_rate=1.0, fault_mix=("hang",), hang_s=0.2)
    started = time.monotonic()
    status, _ = await emu.generate(text_body("x"))
    assert status == 200 and time.monotonic() - started >= 0.2
    emu = await make_emu(fault_rate=1.0, fault_mix=("reset",))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await emu.generate(text_body("x"))
