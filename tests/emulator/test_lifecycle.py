"""Model lifecycle over HTTP: current ids, shut-down ids (404 on Google's doors, still sold by the
aggregator), deprecated ids routed to newer models, and the day the lifecycle is evaluated on."""

from __future__ import annotations

from typing import Any

import pytest
from emuhelp import IMAGE_PREVIEW, KEY, Emu, MakeEmu, text_body
from google import genai
from google.genai import errors, types

from pipeline.emulator import EmulatorConfig, EmulatorThread, lifecycle

DAY = "2026-12-03"
GOOGLE = "/v1beta/openai"


async def _vertex(emu: Emu, model: str, action: str = "generateContent") -> tuple[int, Any, Any]:  # fmt: skip
    return await emu.post(
        f"/v1beta1/projects/p/locations/global/publishers/google/models/{model}:{action}",
        text_body("vertex"),
        key=None,
        headers={"Authorization": f"Bearer {KEY}"},
    )


def _chat(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    "model",
    [
        "gemini-4-argon",
        "gemini-4-carbon",
        "gemini-4-hydrogen",
        "gemini-4-neon",
        "gemini-3.8-flash",
        "gemini-3.6-flash",
        "gemini-3.5-flash-lite",
        "gemini-3.1-flash-lite",
        "gemini-3.1-pro-preview",
        "gemini-3-flash-preview",
        "gemini-2.5-flash-lite",
        "gemini-3-pro-image",
        "gemini-3.1-flash-image",
        "gemini-nano-banana-2.1",
        "gemini-3.1-flash-lite-image",
    ],
)
async def test_current_ids_are_served_as_themselves(
    make_emu: MakeEmu, model: str
) -> None:
    emu = await make_emu(lifecycle_date=DAY)
    status, reply = await emu.generate(text_body("current"), model=model)
    assert status == 200 and reply["modelVersion"] == model


@pytest.mark.parametrize(
    "model",
    [
        "gemini-3-pro-image-preview",
        "gemini-3.1-flash-image-preview",
        "gemini-3-pro-preview",
        "gemini-3.1-flash-lite-preview",
        "gemini-2.0-flash",
        "gemini-2.5-flash-image",
        "imagen-4.0-generate-001",
    ],
)
async def test_shut_down_ids_are_404_on_the_gemini_api(
    make_emu: MakeEmu, model: str
) -> None:
    emu = await make_emu(lifecycle_date=DAY)
    status, reply = await emu.generate(text_body("retired"), model=model)
    assert status == 404
    assert reply == {
        "error": {
            "code": 404,
            "message": f"models/{model} is not found for API version v1beta, or is not supported for "
            "generateContent. Call ModelService.ListModels to see the list of available models and "
            "their supported methods.",
            "status": "NOT_FOUND",
        }
    }


async def test_a_shut_down_id_on_every_google_door_and_at_the_aggregator(
    make_emu: MakeEmu,
) -> None:
    emu = await make_emu(lifecycle_date=DAY)
    status, reply, _ = await emu.post(
        f"/v1/models/{IMAGE_PREVIEW}:generateContent", text_body("x")
    )
    assert status == 404 and "for API version v1," in reply["error"]["message"]
    status, reply, _ = await emu.post(
        f"/v1beta/models/{IMAGE_PREVIEW}:countTokens", text_body("x")
    )
    assert (
        status == 404 and "not supported for countTokens" in reply["error"]["message"]
    )
    status, reply, _ = await _vertex(emu, IMAGE_PREVIEW)
    assert status == 404 and reply["error"]["message"].startswith(
        "Publisher Model `projects/p/"
    )
    status, reply, _ = await emu.openai(
        "/chat/completions", _chat(IMAGE_PREVIEW), prefix=GOOGLE
    )
    assert status == 404 and reply[0]["error"]["status"] == "NOT_FOUND"
    # an aggregator resells the old id under its own name
    status, reply, _ = await emu.openai("/chat/completions", _chat(IMAGE_PREVIEW))
    assert status == 200 and reply["model"] == IMAGE_PREVIEW
    status, reply, _ = await emu.openai(
        "/images/generations", {"model": IMAGE_PREVIEW, "prompt": "a boat"}
    )
    assert status == 200 and reply["data"]


async def test_unknown_ids_are_404(make_emu: MakeEmu) -> None:
    emu = await make_emu(lifecycle_date=DAY)
    assert (await emu.generate(text_body("x"), model="gemini-9-nope"))[0] == 404
    assert (await _vertex(emu, "gemini-9-nope"))[0] == 404
    assert (await emu.openai("/chat/completions", _chat("gemini-9-nope")))[0] == 404


@pytest.mark.parametrize(
    ("model", "served_by"),
    [
        ("gemini-3.7-flash", "gemini-3.8-flash"),
        ("gemini-3.5-flash", "gemini-3.6-flash"),
        ("gemini-2.5-pro", "gemini-3.8-flash"),
        ("gemini-2.5-flash", "gemini-3.5-flash-lite"),
    ],
)
async def test_deprecated_ids_are_routed_to_the_newer_model(
    make_emu: MakeEmu, model: str, served_by: str
) -> None:
    emu = await make_emu(lifecycle_date=DAY)
    status, reply = await emu.generate(text_body("routed"), model=model)
    assert status == 200 and reply["modelVersion"] == served_by
    _, direct = await emu.generate(text_body("routed"), model=served_by)
    assert reply["candidates"][0]["content"] == direct["candidates"][0]["content"]
    status, reply, _ = await emu.openai(
        "/chat/completions", _chat(model), prefix=GOOGLE
    )
    assert status == 200 and reply["model"] == served_by


async def test_vertex_has_shut_down_gemini_2_5_and_still_routes_3_7_flash(
    make_emu: MakeEmu,
) -> None:
    emu = await make_emu(lifecycle_date=DAY)
    for model in ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"):
        assert (await _vertex(emu, model))[0] == 404
    status, reply, _ = await _vertex(emu, "gemini-3.7-flash")
    assert status == 200 and reply["modelVersion"] == "gemini-3.8-flash"


async def test_the_lifecycle_follows_the_configured_day(make_emu: MakeEmu) -> None:
    before_routing = await make_emu(lifecycle_date="2026-11-30")
    status, reply = await before_routing.generate(
        text_body("x"), model="gemini-2.5-pro"
    )
    assert status == 200 and reply["modelVersion"] == "gemini-2.5-pro"
    before_shutdown = await make_emu(lifecycle_date="2026-06-24")
    status, reply = await before_shutdown.generate(text_body("x"), model=IMAGE_PREVIEW)
    assert status == 200 and reply["modelVersion"] == IMAGE_PREVIEW
    status, reply, _ = await _vertex(before_shutdown, "gemini-3.7-flash")
    assert (
        status == 200 and reply["modelVersion"] == "gemini-3.7-flash"
    )  # routed from 2026-10-08


async def test_models_list_shows_what_is_served(make_emu: MakeEmu) -> None:
    emu = await make_emu(lifecycle_date=DAY)
    async with emu.session.get(f"{emu.base_url}/v1beta/models", headers={"x-goog-api-key": KEY}) as resp:  # fmt: skip
        names = {m["name"] for m in (await resp.json())["models"]}
    assert {"models/gemini-4-argon", "models/gemini-3-pro-image"} <= names
    assert (
        f"models/{IMAGE_PREVIEW}" not in names
        and "models/gemini-3.7-flash" not in names
    )
    async with emu.session.get(f"{emu.base_url}/v1beta/models/gemini-4-argon", headers={"x-goog-api-key": KEY}) as resp:  # fmt: skip
        assert (await resp.json())["version"] == "4.0"
    async with emu.session.get(f"{emu.base_url}/v1beta/models/{IMAGE_PREVIEW}", headers={"x-goog-api-key": KEY}) as resp:  # fmt: skip
        assert resp.status == 404
    headers = {"Authorization": f"Bearer {KEY}"}
    async with emu.session.get(
        f"{emu.base_url}{GOOGLE}/models", headers=headers
    ) as resp:
        google = {m["id"] for m in (await resp.json())["data"]}
    async with emu.session.get(f"{emu.base_url}/v1/models", headers=headers) as resp:
        aggregator = {m["id"] for m in (await resp.json())["data"]}
    assert f"models/{IMAGE_PREVIEW}" not in google and IMAGE_PREVIEW in aggregator


async def test_thinking_levels_of_the_new_models(make_emu: MakeEmu) -> None:
    emu = await make_emu(lifecycle_date=DAY)

    def level(value: str) -> dict[str, Any]:
        return text_body("think", thinkingConfig={"thinkingLevel": value})

    status, reply = await emu.generate(level("XHIGH"), model="gemini-4-hydrogen")
    assert status == 200 and reply["usageMetadata"]["thoughtsTokenCount"] >= 3000
    assert (await emu.generate(level("XHIGH"), model="gemini-4-argon"))[0] == 400
    assert (await emu.generate(level("MINIMAL"), model="gemini-3.8-flash"))[0] == 400
    # Gemini 2.5 thinks by budget: no levels, and Flash-Lite can turn thinking off
    assert (await emu.generate(level("LOW"), model="gemini-2.5-flash-lite"))[0] == 400
    off = text_body("think", thinkingConfig={"thinkingBudget": 0})
    status, reply = await emu.generate(off, model="gemini-2.5-flash-lite")
    assert status == 200 and "thoughtsTokenCount" not in reply["usageMetadata"]
    body = dict(_chat("gemini-2.5-flash-lite"), reasoning_effort="low")
    status, reply, _ = await emu.openai("/chat/completions", body, prefix=GOOGLE)
    assert (
        status == 200
        and 256 <= reply["usage"]["total_tokens"] - reply["usage"]["prompt_tokens"]
    )


def test_the_sdk_sees_404_for_a_shut_down_id_and_the_newer_model_for_a_routed_one() -> (
    None
):
    with EmulatorThread(EmulatorConfig(port=0, api_key=KEY, lifecycle_date=DAY)) as emu:
        client = genai.Client(
            api_key=KEY, http_options=types.HttpOptions(base_url=emu.base_url)
        )
        with pytest.raises(errors.ClientError) as gone:
            client.models.generate_content(model=IMAGE_PREVIEW, contents="x")
        assert (gone.value.code, gone.value.status) == (404, "NOT_FOUND")
        reply = client.models.generate_content(model="gemini-3.7-flash", contents="x")
        assert reply.model_version == "gemini-3.8-flash"
        assert reply.usage_metadata is not None


def test_lifecycle_table() -> None:
    from datetime import date

    day = date(2026, 12, 3)
    assert (
        lifecycle.resolve("models/gemini-3.7-flash", "gemini", day).state
        == lifecycle.ROUTED
    )
    gone = lifecycle.resolve("gemini-3-pro-image-preview", "vertex", day)
    assert (
        gone.state == lifecycle.SHUT_DOWN and gone.replacement == "gemini-3-pro-image"
    )
    assert (
        lifecycle.resolve("gemini-3.1-flash-lite", "gemini", date(2027, 5, 7)).model
        is None
    )
    with pytest.raises(ValueError):
        EmulatorConfig(lifecycle_date="December")
