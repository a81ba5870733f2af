"""Run-level errors over HTTP: `error=NAME` and `fail=403` directives, the per-day quota shape (also
from the server's own rpd limit, whose day ends at midnight Pacific), and Vertex's 429."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from emuhelp import FLASH, KEY, Emu, MakeEmu, text_body
from google import genai
from google.genai import errors, types

from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.emulator.quotas import (
    PACIFIC,
    PacificDayWindow,
    seconds_to_pacific_midnight,
)
from pipeline.emulator.runerrors import go_duration

VERTEX = f"/v1beta1/projects/p/locations/us-central1/publishers/google/models/{FLASH}:generateContent"
HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}


def _types(reply: Any) -> list[str]:
    return [d["@type"].rsplit(".", 1)[1] for d in reply["error"].get("details", [])]


def _seconds(delay: str) -> float:
    return float(delay.removesuffix("s"))


async def _vertex(emu: Emu, body: Any) -> tuple[int, Any, Any]:
    return await emu.post(
        VERTEX, body, key=None, headers={"Authorization": f"Bearer {KEY}"}
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "billing",
            (
                "Gemini API free tier is not available in your country. Please enable billing on "
                "your project in Google AI Studio."
            ),
        ),
        ("location", "User location is not supported for the API use."),
    ],
)
async def test_failed_precondition(emu: Emu, name: str, message: str) -> None:
    status, reply = await emu.generate(text_body(f"[[emu:error={name}]]"))
    assert status == 400
    assert reply == {
        "error": {"code": 400, "message": message, "status": "FAILED_PRECONDITION"}
    }


async def test_permission_denied(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("[[emu:fail=403]]"))
    assert status == 403 and reply["error"] == {
        "code": 403,
        "message": "The caller does not have permission",
        "status": "PERMISSION_DENIED",
    }
    _, reply = await emu.generate(text_body("[[emu:error=leaked]]"))
    assert reply["error"]["message"] == (
        "Your API key was reported as leaked. Please use another API key."
    )
    status, reply = await emu.generate(text_body("[[emu:error=suspended]]"))
    assert (
        status == 403 and reply["error"]["details"][0]["reason"] == "CONSUMER_SUSPENDED"
    )


async def test_per_day_quota_429(emu: Emu) -> None:
    before = seconds_to_pacific_midnight(datetime.now(PACIFIC))
    status, reply = await emu.generate(text_body("day [[emu:error=quota_day]]"))
    error = reply["error"]
    assert status == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    assert _types(reply) == ["QuotaFailure", "Help", "RetryInfo"]
    violation = error["details"][0]["violations"][0]
    assert violation == {
        "quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model_per_day",
        "quotaId": "GenerateRequestsPerDayPerProjectPerModel",
        "quotaDimensions": {"location": "global", "model": FLASH},
        "quotaValue": "250",
    }
    assert error["details"][1] == HELP
    wait = _seconds(error["details"][2]["retryDelay"])
    assert before - 5 <= wait <= before + 1  # until midnight America/Los_Angeles
    assert error["message"].startswith("You exceeded your current quota")
    assert (
        "* Quota exceeded for metric: generativelanguage.googleapis.com/"
        "generate_requests_per_model_per_day, limit: 250, model: gemini-3-flash-preview"
    ) in error["message"]
    assert error["message"].endswith(f"Please retry in {go_duration(wait)}.")
    _, reply = await emu.generate(text_body("[[emu:error=quota_day,retry=23s]]"))
    assert reply["error"]["details"][2]["retryDelay"] == "23s"
    _, reply = await emu.generate(text_body("[[emu:error=quota_day,retry=none]]"))
    assert _types(reply) == ["QuotaFailure", "Help"]


async def test_help_only_bare_and_spend_cap_429s(emu: Emu) -> None:
    status, reply = await emu.generate(text_body("[[emu:error=help_only]]"))
    assert status == 429 and reply["error"]["details"] == [HELP]
    assert "QuotaFailure" not in str(reply)
    status, reply = await emu.generate(text_body("[[emu:error=exhausted]]"))
    assert status == 429 and reply["error"] == {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
    }
    status, reply = await emu.generate(text_body("[[emu:error=spend_cap]]"))
    assert status == 429 and "monthly spending cap" in reply["error"]["message"]
    assert "details" not in reply["error"]


async def test_named_errors_honour_attempt_counts(emu: Emu) -> None:
    body = text_body("row 7 [[emu:error=billingx1]]")
    assert [(await emu.generate(body))[0] for _ in range(2)] == [400, 200]
    assert (await emu.generate(text_body("[[emu:error=nope]]")))[0] == 400


async def test_vertex_429s_are_list_wrapped_without_retry_info(
    make_emu: MakeEmu,
) -> None:
    emu = await make_emu(rpm=5, window_s=30.0)  # the four directives below count too
    expected = [
        {
            "error": {
                "code": 429,
                "message": "Resource exhausted. Please try again later. Please refer to "
                "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
                "status": "RESOURCE_EXHAUSTED",
            }
        }
    ]
    for directive in ("fail=429", "error=quota_day", "error=help_only"):
        status, reply, _ = await _vertex(emu, text_body(f"[[emu:{directive}]]"))
        assert (status, reply) == (429, expected)
    status, reply, _ = await _vertex(emu, text_body("[[emu:error=billing]]"))
    assert status == 400 and reply["error"]["status"] == "FAILED_PRECONDITION"
    assert (await _vertex(emu, text_body("first")))[0] == 200
    status, reply, _ = await _vertex(emu, text_body("second"))  # over the server's rpm
    assert (status, reply) == (429, expected)


async def test_named_errors_on_the_openai_routes(emu: Emu) -> None:
    body = {"model": FLASH, "messages": [{"role": "user", "content": "[[emu:error=quota_day,retry=40s]]"}]}  # fmt: skip
    status, reply, headers = await emu.openai(
        "/chat/completions", body, prefix="/v1beta/openai"
    )
    assert status == 429 and isinstance(reply, list)
    assert _types(reply[0]) == ["QuotaFailure", "Help", "RetryInfo"]
    assert headers["retry-after"] == "40"
    status, reply, _ = await emu.openai("/chat/completions", body)
    assert status == 429 and reply["error"]["code"] == "rate_limit_exceeded"


async def test_server_rpd_limit_counts_the_pacific_day(make_emu: MakeEmu) -> None:
    emu = await make_emu(rpd=1)
    assert (await emu.generate(text_body("a")))[0] == 200
    before = seconds_to_pacific_midnight(datetime.now(PACIFIC))
    status, reply = await emu.generate(text_body("b"))
    assert status == 429 and _types(reply) == ["QuotaFailure", "Help", "RetryInfo"]
    violation = reply["error"]["details"][0]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel"
    assert violation["quotaValue"] == "1"
    wait = _seconds(reply["error"]["details"][2]["retryDelay"])
    assert before - 5 <= wait <= before + 1


def test_pacific_day_window_resets_at_local_midnight() -> None:
    now = [datetime(2026, 12, 3, 23, 59, 0, tzinfo=PACIFIC)]
    window = PacificDayWindow(2, clock=lambda: now[0])
    window.add(0.0, 2)
    assert window.wait(0.0, 1) == 60.0  # one minute to midnight Pacific
    now[0] += timedelta(minutes=1, seconds=1)
    assert window.wait(0.0, 1) == 0.0 and window.remaining() == 2


def test_midnight_across_a_dst_change() -> None:
    # 2026-03-08 is 23 hours long in Los Angeles (clocks go forward at 02:00)
    start = datetime(2026, 3, 8, 0, 0, tzinfo=PACIFIC)
    assert seconds_to_pacific_midnight(start) == 23 * 3600


def test_go_durations() -> None:
    assert go_duration(21.76) == "21.76s"
    assert go_duration(123.5) == "2m3.5s"
    assert go_duration(6776.409) == "1h52m56.409s"


def test_the_sdks_raise_the_right_errors() -> None:
    with EmulatorThread(EmulatorConfig(port=0, api_key=KEY)) as emu:
        options = types.HttpOptions(base_url=emu.base_url)
        client = genai.Client(api_key=KEY, http_options=options)
        with pytest.raises(errors.ClientError) as billing:
            client.models.generate_content(
                model=FLASH, contents="[[emu:error=billing]]"
            )
        assert (billing.value.code, billing.value.status) == (
            400,
            "FAILED_PRECONDITION",
        )
        with pytest.raises(errors.ClientError) as daily:
            client.models.generate_content(
                model=FLASH, contents="[[emu:error=quota_day]]"
            )
        assert daily.value.code == 429 and "PerDay" in str(daily.value.details)
        vertex = genai.Client(vertexai=True, api_key=KEY, http_options=options)
        with pytest.raises(errors.ClientError) as limited:
            vertex.models.generate_content(model=FLASH, contents="[[emu:fail=429]]")
        assert (limited.value.code, limited.value.status) == (429, "RESOURCE_EXHAUSTED")
        assert "error-code-429" in (limited.value.message or "")
