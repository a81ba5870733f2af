"""Server-side rpm / tpm / rpd over rolling windows: 429 RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo."""

from __future__ import annotations

import asyncio
from typing import Any

from emuhelp import FLASH, PRO, MakeEmu, text_body


def _details(reply: Any) -> dict[str, Any]:
    return {d["@type"].rsplit(".", 1)[1]: d for d in reply["error"]["details"]}


def _seconds(delay: str) -> float:
    assert delay.endswith("s")
    return float(delay[:-1])


async def test_rpm_limit(make_emu: MakeEmu) -> None:
    emu = await make_emu(rpm=2, window_s=0.5)
    statuses = [(await emu.generate(text_body(f"r{i}")))[0] for i in range(3)]
    assert statuses == [200, 200, 429]
    _, reply = await emu.generate(text_body("r3"))
    details = _details(reply)
    violation = details["QuotaFailure"]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel"
    assert (
        violation["quotaValue"] == "2"
        and violation["quotaDimensions"]["model"] == FLASH
    )
    assert 0 < _seconds(details["RetryInfo"]["retryDelay"]) <= 0.5
    assert "Help" in details
    await asyncio.sleep(_seconds(details["RetryInfo"]["retryDelay"]) + 0.02)
    assert (await emu.generate(text_body("r4")))[0] == 200
    assert emu.ledger()["rate_limited"] == 2


async def test_tpm_limit_counts_input_tokens(make_emu: MakeEmu) -> None:
    emu = await make_emu(tpm=10, window_s=0.5)
    assert (await emu.generate(text_body("a" * 32)))[0] == 200  # 8 tokens
    status, reply = await emu.generate(text_body("b" * 12))  # 3 more: 11 > 10
    assert status == 429
    assert (
        _details(reply)["QuotaFailure"]["violations"][0]["quotaId"]
        == "GenerateContentInputTokensPerModelPerMinute"
    )
    assert (await emu.generate(text_body("c" * 8)))[0] == 200  # 2 more: 10 fits


async def test_rpd_limit_uses_the_day_window(make_emu: MakeEmu) -> None:
    emu = await make_emu(rpd=1, window_s=0.05, day_window_s=30.0)
    assert (await emu.generate(text_body("a")))[0] == 200
    await asyncio.sleep(0.06)  # the minute window has passed, the day window has not
    status, reply = await emu.generate(text_body("b"))
    details = _details(reply)
    assert (
        status == 429
        and details["QuotaFailure"]["violations"][0]["quotaId"]
        == "GenerateRequestsPerDayPerProjectPerModel"
    )
    assert _seconds(details["RetryInfo"]["retryDelay"]) > 29


async def test_limits_are_per_key_and_per_model(make_emu: MakeEmu) -> None:
    emu = await make_emu(rpm=1, api_key=None)
    assert (await emu.generate(text_body("a"), key="one"))[0] == 200
    assert (await emu.generate(text_body("a"), key="two"))[0] == 200
    assert (await emu.generate(text_body("a"), key="one", model=PRO))[0] == 200
    assert (await emu.generate(text_body("a"), key="one"))[0] == 429


async def test_count_tokens_is_not_limited(make_emu: MakeEmu) -> None:
    emu = await make_emu(rpm=1)
    for _ in range(3):
        status, _, _ = await emu.post(
            f"/v1beta/models/{FLASH}:countTokens", text_body("x")
        )
        assert status == 200


async def test_limit_refusals_do_not_count_as_fault_attempts(make_emu: MakeEmu) -> None:
    emu = await make_emu(rpm=1, window_s=0.3)
    body = text_body("[[emu:fail=503x1]]")
    assert (await emu.generate(body))[0] == 503
    assert (await emu.generate(body))[0] == 429  # refused by the limit: not attempt 2
    await asyncio.sleep(0.31)
    assert (await emu.generate(body))[0] == 200
