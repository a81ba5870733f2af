"""The ledger: requests by route and status, tokens billed, bodies, in-flight peak, windows, reset, file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from emuhelp import FLASH, KEY, Emu, MakeEmu, text_body

from pipeline.emulator import EmulatorConfig, EmulatorServer


async def test_ledger_counts_and_bills_only_successes(emu: Emu) -> None:
    _, ok = await emu.generate(text_body("bill me"))
    await emu.generate(text_body("x", bogus=1))
    await emu.generate(text_body("[[emu:fail=500]]"))
    ledger = emu.ledger()
    assert ledger["requests_by_route"][
        "POST /v1beta/models/{model}:generateContent"
    ] == {"200": 1, "400": 1, "500": 1}
    usage = ok["usageMetadata"]
    assert ledger["tokens"]["input"] == usage["promptTokenCount"]
    assert ledger["tokens"]["output"] == usage["candidatesTokenCount"]
    assert ledger["tokens"]["thinking"] == usage["thoughtsTokenCount"]
    assert ledger["requests"] == 3 and ledger["started_at"].endswith("Z")


async def test_duplicates_are_visible_per_body(emu: Emu) -> None:
    for _ in range(3):
        await emu.generate(text_body("same row"))
    await emu.generate(text_body("other row"))
    bodies = {b["excerpt"]: b for b in emu.ledger()["requests_by_body"]}
    assert bodies["same row"]["count"] == 3 and bodies["same row"]["ok"] == 3
    assert bodies["other row"]["count"] == 1 and len(bodies["same row"]["sha256"]) == 64


async def test_peak_in_flight(make_emu: MakeEmu) -> None:
    emu = await make_emu(latency_ms=100)
    await asyncio.gather(*(emu.generate(text_body(f"r{i}")) for i in range(8)))
    ledger = emu.ledger()
    assert ledger["peak_in_flight"] == 8 and ledger["in_flight"] == 0


async def test_per_window_counts(make_emu: MakeEmu) -> None:
    emu = await make_emu(window_s=0.2)
    await emu.generate(text_body("a"))
    await asyncio.sleep(0.45)
    await emu.generate(text_body("b"))
    await emu.generate(text_body("c"))
    windows = emu.ledger()["per_window"]
    assert windows[0] == 1 and windows[-1] == 2 and sum(windows) == 3


async def test_ledger_endpoint_and_reset(emu: Emu) -> None:
    await emu.generate(text_body("a"))
    async with emu.session.get(emu.base_url + "/_emulator/ledger") as resp:
        assert (await resp.json())["requests"] == 1
    async with emu.session.post(emu.base_url + "/_emulator/reset") as resp:
        assert resp.status == 200
    assert emu.ledger()["requests"] == 0 and emu.ledger()["requests_by_body"] == []


async def test_ledger_file_is_written_on_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    async with (
        EmulatorServer(EmulatorConfig(port=0, ledger_path=str(path))) as server,
        aiohttp.ClientSession() as session,
    ):
        url = f"{server.base_url}/v1beta/models/{FLASH}:generateContent"
        async with session.post(
            url, json=text_body("x"), headers={"x-goog-api-key": KEY}
        ) as resp:
            assert resp.status == 200
    assert json.loads(path.read_text())["requests"] == 1
    assert KEY not in path.read_text()


def test_latency_is_deterministic_per_body() -> None:
    import hashlib

    from pipeline.emulator.config import EmulatorConfig as Config
    from pipeline.emulator.flow import base_latency

    config = Config(latency_ms=100, latency_p99_ms=1000, seed=1)
    digests = [hashlib.sha256(str(i).encode()).digest() for i in range(1000)]
    samples = [base_latency(config, d) for d in digests]
    assert samples == [base_latency(config, d) for d in digests]
    assert samples != [
        base_latency(Config(latency_ms=100, latency_p99_ms=1000, seed=2), d)
        for d in digests
    ]
    ordered = sorted(samples)
    assert 0.08 < ordered[500] < 0.125  # the median
    assert 0.6 < ordered[990] < 1.6  # the p99
    assert base_latency(Config(latency_ms=50), b"x" * 32) == 0.05
