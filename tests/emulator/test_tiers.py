"""Service tiers over HTTP: Flex (latency, capacity, X-Server-Timeout), Priority (allowance,
silent downgrade), the served tier in the reply and header, Vertex headers, OpenAI's service_tier,
and the ledger's tokens by tier and dollars."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from emuhelp import FLASH, KEY, PRO, Emu, MakeEmu, text_body

from pipeline.emulator import billing, tiers

GENERATE = f"/v1beta/models/{FLASH}:generateContent"
VERTEX = f"/v1beta1/projects/p/locations/global/publishers/google/models/{FLASH}:generateContent"
GOOGLE = "/v1beta/openai"


def tier_header(headers: Any) -> str | None:
    """The x-gemini-service-tier response header (Emu.post returns loosely typed headers)."""
    value = headers.get(tiers.HEADER)
    return None if value is None else str(value)


def tiered(text: str, tier: str | None, key: str = "serviceTier") -> dict[str, Any]:
    body = text_body(text)
    if tier is not None:
        body[key] = tier
    return body


async def test_standard_is_reported_when_no_tier_is_asked(emu: Emu) -> None:
    status, reply, headers = await emu.post(GENERATE, text_body("plain"))
    assert status == 200
    assert reply["usageMetadata"]["serviceTier"] == "standard"
    assert tier_header(headers) == "standard"


@pytest.mark.parametrize(
    ("key", "value", "served"),
    [
        ("serviceTier", "flex", "flex"),
        ("service_tier", "FLEX", "flex"),
        ("serviceTier", "SERVICE_TIER_FLEX", "flex"),
        ("serviceTier", "priority", "priority"),
        ("serviceTier", "standard", "standard"),
        ("serviceTier", "unspecified", "standard"),
    ],
)
async def test_the_tier_field_as_the_api_takes_it(
    make_emu: MakeEmu, key: str, value: str, served: str
) -> None:
    emu = await make_emu(flex_latency_s=0.01)
    status, reply, headers = await emu.post(GENERATE, tiered("t", value, key))
    assert status == 200, reply
    assert reply["usageMetadata"]["serviceTier"] == served
    assert tier_header(headers) == served


async def test_an_unknown_tier_is_a_400(emu: Emu) -> None:
    status, reply, _ = await emu.post(GENERATE, tiered("t", "fast"))
    assert status == 400 and reply["error"]["status"] == "INVALID_ARGUMENT"
    assert reply["error"]["message"] == (
        "Invalid value at 'service_tier' "
        '(type.googleapis.com/google.ai.generativelanguage.v1beta.ServiceTier), "fast"'
    )
    assert emu.ledger()["tiers"]["requested"] == {
        "standard": 0,
        "flex": 0,
        "priority": 0,
    }


async def test_flex_waits_its_latency_and_the_directive_overrides_it(
    make_emu: MakeEmu,
) -> None:
    emu = await make_emu(flex_latency_s=0.4, flex_jitter=0.0)
    start = time.monotonic()
    assert (await emu.generate(tiered("slow", "flex")))[0] == 200
    assert time.monotonic() - start >= 0.39
    start = time.monotonic()
    status, _ = await emu.generate(tiered("fast [[emu:flex_latency=0]]", "flex"))
    assert status == 200 and time.monotonic() - start < 0.3
    start = time.monotonic()
    assert (await emu.generate(text_body("standard is not delayed")))[0] == 200
    assert time.monotonic() - start < 0.3


def test_flex_latency_is_seeded_and_within_the_jitter() -> None:
    from pipeline.emulator import EmulatorConfig

    state = tiers.TierState(EmulatorConfig(flex_latency_s=2.0, flex_jitter=0.5, seed=7))
    waits = [state.flex_wait(bytes([i]) * 32, 1) for i in range(200)]
    assert all(1.0 <= w <= 3.0 for w in waits)
    assert abs(sum(waits) / len(waits) - 2.0) < 0.15
    again = tiers.TierState(EmulatorConfig(flex_latency_s=2.0, flex_jitter=0.5, seed=7))
    assert again.flex_wait(b"\x01" * 32, 1) == waits[1]


@pytest.mark.parametrize(
    ("shed_status", "status", "message"),
    [
        (503, "UNAVAILABLE", "The system is currently at capacity."),
        (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    ],
)
async def test_a_full_flex_pool_sheds(
    make_emu: MakeEmu, shed_status: int, status: str, message: str
) -> None:
    emu = await make_emu(
        flex_latency_s=0.5,
        flex_jitter=0.0,
        flex_capacity=1,
        flex_shed_status=shed_status,
    )
    first = asyncio.create_task(emu.generate(tiered("one", "flex")))
    await asyncio.sleep(0.15)
    code, reply = await emu.generate(tiered("two", "flex"))
    assert (code, reply["error"]["status"], reply["error"]["message"]) == (
        shed_status,
        status,
        message,
    )
    assert (await emu.generate(text_body("standard still runs")))[0] == 200
    assert (await first)[0] == 200
    assert (await emu.generate(tiered("three", "flex")))[
        0
    ] == 200  # the slot is free again
    ledger = emu.ledger()
    assert ledger["tiers"]["flex_shed"] == 1
    assert ledger["tiers"]["served"]["flex"] == 2


async def test_the_shed_directive(make_emu: MakeEmu) -> None:
    emu = await make_emu(flex_latency_s=0.0)
    body = tiered("shed me once [[emu:shedx1]]", "flex")
    assert (await emu.generate(body))[0] == 503
    assert (await emu.generate(body))[0] == 200
    assert (await emu.generate(text_body("standard [[emu:shed]]")))[0] == 200


async def test_x_server_timeout_cuts_a_long_flex_wait(make_emu: MakeEmu) -> None:
    emu = await make_emu(flex_latency_s=5.0, flex_jitter=0.0)
    start = time.monotonic()
    status, reply, _ = await emu.post(
        GENERATE, tiered("t", "flex"), headers={"X-Server-Timeout": "0.3"}
    )
    elapsed = time.monotonic() - start
    assert status == 504 and reply["error"]["status"] == "DEADLINE_EXCEEDED"
    assert 0.29 <= elapsed < 2.0
    status, _, _ = await emu.post(
        GENERATE,
        tiered("t [[emu:flex_latency=0.1]]", "flex"),
        headers={"X-Server-Timeout": "2"},
    )
    assert status == 200
    assert emu.ledger()["tiers"]["flex_deadline_exceeded"] == 1


async def test_priority_is_downgraded_silently_past_its_allowance(
    make_emu: MakeEmu,
) -> None:
    emu = await make_emu(priority_allowance_rpm=2, window_s=30.0)
    served = []
    for i in range(3):
        status, reply, headers = await emu.post(
            GENERATE, tiered(f"row {i}", "priority")
        )
        assert status == 200
        served.append((reply["usageMetadata"]["serviceTier"], tier_header(headers)))
    assert served == [("priority", "priority")] * 2 + [("standard", "standard")]
    ledger = emu.ledger()
    assert ledger["tiers"]["priority_downgraded"] == 1
    assert ledger["tiers"]["requested"]["priority"] == 3
    assert ledger["tiers"]["served"] == {"standard": 1, "flex": 0, "priority": 2}


async def test_the_priority_allowance_defaults_to_three_tenths_of_rpm(
    make_emu: MakeEmu,
) -> None:
    emu = await make_emu(rpm=10, window_s=30.0)
    tiers_served = []
    for i in range(5):
        _, reply = await emu.generate(tiered(f"p{i}", "priority"))
        tiers_served.append(reply["usageMetadata"]["serviceTier"])
    assert tiers_served == ["priority"] * 3 + ["standard"] * 2


@pytest.mark.parametrize(
    ("headers", "traffic"),
    [
        ({}, "ON_DEMAND"),
        ({"X-Vertex-AI-LLM-Shared-Request-Type": "flex"}, "ON_DEMAND_FLEX"),
        (
            {
                "X-Vertex-AI-LLM-Shared-Request-Type": "flex",
                "X-Vertex-AI-LLM-Request-Type": "shared",
            },
            "ON_DEMAND_FLEX",
        ),
        ({"X-Vertex-AI-LLM-Shared-Request-Type": "priority"}, "ON_DEMAND_PRIORITY"),
    ],
)
async def test_vertex_takes_the_tier_from_headers(
    make_emu: MakeEmu, headers: dict[str, str], traffic: str
) -> None:
    emu = await make_emu(flex_latency_s=0.01)
    status, reply, got = await emu.post(
        VERTEX,
        tiered("v", "priority"),  # a body serviceTier is ignored on Vertex
        key=None,
        headers={"Authorization": f"Bearer {KEY}", **headers},
    )
    assert status == 200
    assert reply["usageMetadata"]["trafficType"] == traffic
    assert "serviceTier" not in reply["usageMetadata"]
    assert "x-gemini-service-tier" not in got


@pytest.mark.parametrize(
    ("asked", "answer", "header"),
    [
        ("flex", "flex", "flex"),
        ("priority", "priority", "priority"),
        ("default", "default", "standard"),
    ],
)
async def test_openai_service_tier(
    make_emu: MakeEmu, asked: str, answer: str, header: str
) -> None:
    emu = await make_emu(flex_latency_s=0.01)
    body = {
        "model": FLASH,
        "messages": [{"role": "user", "content": "hi"}],
        "service_tier": asked,
    }
    for prefix in ("/v1", GOOGLE):
        status, reply, headers = await emu.openai(
            "/chat/completions", body, prefix=prefix
        )
        assert status == 200
        assert reply["service_tier"] == answer
        assert tier_header(headers) == header
    status, reply, _ = await emu.openai(
        "/chat/completions",
        {"model": FLASH, "messages": [{"role": "user", "content": "hi"}]},
        prefix=GOOGLE,
    )
    assert status == 200 and "service_tier" not in reply


async def test_openai_rejects_an_unknown_service_tier(emu: Emu) -> None:
    body = {
        "model": FLASH,
        "messages": [{"role": "user", "content": "hi"}],
        "service_tier": "scale",
    }
    status, reply, _ = await emu.openai("/chat/completions", body, prefix=GOOGLE)
    assert status == 400 and reply[0]["error"]["status"] == "INVALID_ARGUMENT"


async def test_streaming_reports_the_tier(make_emu: MakeEmu) -> None:
    emu = await make_emu(flex_latency_s=0.01)
    async with emu.session.post(
        f"{emu.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse",
        json=tiered("stream me", "flex"),
        headers={"x-goog-api-key": KEY},
    ) as resp:
        assert resp.headers["x-gemini-service-tier"] == "flex"
        text = await resp.text()
    import json

    chunks = [
        json.loads(line[6:]) for line in text.split("\r\n") if line.startswith("data: ")
    ]
    assert chunks and all(c["usageMetadata"]["serviceTier"] == "flex" for c in chunks)


def test_vertex_traffic_types() -> None:
    assert tiers.traffic_type("standard") == "ON_DEMAND"
    assert tiers.traffic_type("flex") == "ON_DEMAND_FLEX"
    assert tiers.traffic_type("priority") == "ON_DEMAND_PRIORITY"


def test_served_tier_without_a_decision_reads_the_request() -> None:
    assert tiers.served_tier({"contents": []}, {}) == "standard"
    assert tiers.served_tier({"serviceTier": "flex"}, {}) == "flex"
    assert (
        tiers.served_tier({"service_tier": "SERVICE_TIER_PRIORITY"}, {}) == "priority"
    )
    assert tiers.served_tier({"service_tier": "default"}, {}) == "standard"
    assert (
        tiers.served_tier({}, {"X-Vertex-AI-LLM-Shared-Request-Type": "flex"}) == "flex"
    )
    assert tiers.served_tier({"serviceTier": "bogus"}, {}) == "standard"
    assert tiers.served_tier(None, {}) == "standard"


async def test_ledger_tokens_by_tier_and_dollars(make_emu: MakeEmu) -> None:
    emu = await make_emu(flex_latency_s=0.0)
    usage = {}
    for tier in ("standard", "flex", "priority"):
        status, reply = await emu.generate(tiered("same words for each tier", tier))
        assert status == 200
        usage[tier] = reply["usageMetadata"]
    ledger = emu.ledger()
    price = billing.price(FLASH)
    assert price is not None
    for tier, meta in usage.items():
        kinds = ledger["tokens_by_tier"][tier]
        assert kinds["input"] == meta["promptTokenCount"]
        assert kinds["output"] == meta.get("candidatesTokenCount", 0)
        assert kinds["thinking"] == meta.get("thoughtsTokenCount", 0)
        out = meta.get("candidatesTokenCount", 0) + meta.get("thoughtsTokenCount", 0)
        standard = (meta["promptTokenCount"] * price.input + out * price.output) / 1e6
        expected = standard * billing.TIER_MULTIPLIER[tier]
        assert ledger["cost_usd_detail"]["by_tier"][tier] == pytest.approx(
            expected, abs=1e-9
        )
    assert ledger["tokens"]["input"] == sum(
        m["promptTokenCount"] for m in usage.values()
    )
    assert ledger["cost_usd"] == pytest.approx(
        sum(ledger["cost_usd_detail"]["by_tier"].values()), abs=1e-8
    )
    detail = ledger["cost_usd_detail"]
    assert ledger["cost_usd"] == pytest.approx(
        detail["input"] + detail["cached_input"] + detail["output"]
        + detail["cache_creation"] + detail["cache_storage"], abs=1e-8
    )  # fmt: skip


def test_prices_follow_the_dated_steps_and_long_prompts() -> None:
    from datetime import date

    assert billing.price("gemini-3.8-flash", date(2026, 12, 31)).input == 0.75  # type: ignore[union-attr]
    assert billing.price("gemini-3.8-flash", date(2027, 1, 1)).input == 1.50  # type: ignore[union-attr]
    assert billing.price("nope") is None
    short = billing.request_cost(PRO, "standard", {"TEXT": 200_000}, {}, 0, 0)
    long = billing.request_cost(PRO, "standard", {"TEXT": 200_001}, {}, 0, 0)
    assert short is not None and long is not None
    assert short["input"] == pytest.approx(0.4) and long["input"] == pytest.approx(
        200_001 * 4 / 1e6
    )
    audio = billing.request_cost(FLASH, "flex", {"TEXT": 1000, "AUDIO": 1000}, {}, 0, 0)
    assert audio is not None and audio["input"] == pytest.approx(
        (1000 * 0.5 + 1000 * 1.0) / 2 / 1e6
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"flex_shed_status": 500},
        {"flex_jitter": 1.5},
        {"flex_latency_s": -1.0},
        {"flex_capacity": -1},
        {"priority_allowance_rpm": -2},
        {"implicit_cache_ttl_s": -1.0},
    ],
)
def test_tier_settings_are_checked(bad: dict[str, Any]) -> None:
    from pipeline.emulator import EmulatorConfig

    with pytest.raises(ValueError):
        EmulatorConfig(**bad)
