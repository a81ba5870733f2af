"""Reply details of the 2026 service: the served tier, finish messages, thought summaries, MAX_TOKENS."""

from __future__ import annotations

import base64
import json
from typing import Any

from emuhelp import FLASH, IMAGE, KEY, Emu, MakeEmu, text_body

VERTEX = (
    "/v1beta1/projects/p/locations/global/publishers/google/models/{model}:{action}"
)


async def _vertex(emu: Emu, body: Any, model: str = FLASH, action: str = "generateContent") -> tuple[int, Any, Any]:  # fmt: skip
    return await emu.post(
        VERTEX.format(model=model, action=action),
        body,
        key=None,
        headers={"Authorization": f"Bearer {KEY}"},
    )


async def test_gemini_reports_the_served_tier_in_usage_and_header(emu: Emu) -> None:
    status, reply, headers = await emu.post(
        f"/v1beta/models/{FLASH}:generateContent", text_body("tiers")
    )
    assert status == 200 and reply["usageMetadata"]["serviceTier"] == "standard"
    assert headers["x-gemini-service-tier"] == "standard"
    assert "trafficType" not in reply["usageMetadata"]


async def test_stream_chunks_carry_the_tier(emu: Emu) -> None:
    async with emu.session.post(
        f"{emu.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse",
        json=text_body("stream tiers"),
        headers={"x-goog-api-key": KEY},
    ) as resp:
        assert resp.headers["x-gemini-service-tier"] == "standard"
        raw = (await resp.read()).decode()
    chunks = [
        json.loads(e[6:]) for e in raw.split("\r\n\r\n") if e.startswith("data: ")
    ]
    assert chunks and all(
        c["usageMetadata"]["serviceTier"] == "standard" for c in chunks
    )


async def test_vertex_reports_traffic_type_and_no_tier_header(emu: Emu) -> None:
    status, reply, headers = await _vertex(emu, text_body("vertex tiers"))
    assert status == 200 and reply["usageMetadata"]["trafficType"] == "ON_DEMAND"
    assert "serviceTier" not in reply["usageMetadata"]
    assert "x-gemini-service-tier" not in headers


async def test_image_replies_carry_signatures_of_realistic_size(
    make_emu: MakeEmu,
) -> None:
    emu = await make_emu()
    body = text_body("a lighthouse", responseModalities=["TEXT", "IMAGE"])
    _, reply = await emu.generate(body, model=IMAGE)
    parts = reply["candidates"][0]["content"]["parts"]
    signatures = [p["thoughtSignature"] for p in parts if "thoughtSignature" in p]
    assert len(signatures) == 2  # on the text part and on the image part
    assert all(1_099_000 <= len(s) <= 1_100_000 for s in signatures)
    assert len(base64.b64decode(signatures[0], validate=True)) > 800_000
    _, again = await emu.generate(body, model=IMAGE)
    assert (
        again["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
        == signatures[0]
    )
    _, text = await emu.generate(text_body("plain"))
    assert len(text["candidates"][0]["content"]["parts"][0]["thoughtSignature"]) < 100


async def test_signature_size_is_configurable(make_emu: MakeEmu) -> None:
    for chars, low, high in ((10_000, 9_990, 10_000), (0, 1, 100)):
        emu = await make_emu(image_signature_chars=chars)
        _, reply = await emu.generate(text_body("a boat"), model=IMAGE)
        parts = reply["candidates"][0]["content"]["parts"]
        assert all(low <= len(p["thoughtSignature"]) <= high for p in parts)
        base64.b64decode(parts[0]["thoughtSignature"], validate=True)
