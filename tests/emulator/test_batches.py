"""The Gemini Batch API over HTTP: create, the compressed clock, results, errors, limits, ledger."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from batchhelp import (
    create,
    create_ok,
    download,
    essentials,
    get,
    jsonl,
    line,
    rows,
    upload,
    wait,
)
from emuhelp import FLASH, IMAGE, KEY, PRO, Emu, MakeEmu, text_body

from pipeline.emulator import prices

FAST = {"batch_pending_s": 0.0, "batch_rows_per_s": 10_000.0}

# Requests whose replies exercise thinking, JSON mode, function calls and images.
REQUESTS: list[tuple[str, dict[str, Any]]] = [
    (FLASH, text_body("Plain row")),
    (FLASH, text_body("Low thinking", thinkingConfig={"thinkingLevel": "low", "includeThoughts": True})),
    (FLASH, text_body("As JSON", responseMimeType="application/json",
                      responseJsonSchema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})),
    (FLASH, {"contents": [{"role": "user", "parts": [{"text": "call:get_weather in Oslo"}]}],
             "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {
                 "type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}]}),
    (FLASH, text_body("Short", maxOutputTokens=30, thinkingConfig={"thinkingBudget": 0})),
    (FLASH, text_body("Blocked [[emu:block=SAFETY]]")),
]  # fmt: skip


async def _online(emu: Emu, model: str, body: dict[str, Any]) -> dict[str, Any]:
    status, reply = await emu.generate(body, model)
    assert status == 200, reply
    return reply  # type: ignore[no-any-return]


async def test_inline_batch_matches_online_replies(make_emu: MakeEmu) -> None:
    emu = await make_emu(**FAST)
    requests = [
        {"request": body, "metadata": {"key": f"row-{i}"}}
        for i, (_, body) in enumerate(REQUESTS)
    ]
    op = await create_ok(
        emu,
        {
            "display_name": "inline",
            "input_config": {"requests": {"requests": requests}},
        },
    )
    meta = op["metadata"]
    assert op["name"].startswith("batches/") and meta["name"] == op["name"]
    assert meta["@type"].endswith("v1main.GenerateContentBatch")
    assert meta["model"] == f"models/{FLASH}" and meta["displayName"] == "inline"
    assert meta["state"] == "BATCH_STATE_PENDING" and "done" not in op
    assert meta["batchStats"] == {"requestCount": "6", "pendingRequestCount": "6"}
    done = await wait(emu, op["name"])
    assert done["metadata"]["state"] == "BATCH_STATE_SUCCEEDED" and done["done"] is True
    assert done["metadata"]["batchStats"] == {
        "requestCount": "6",
        "successfulRequestCount": "6",
    }
    assert done["metadata"]["endTime"] >= done["metadata"]["createTime"]
    output = done["response"]
    assert output["@type"].endswith("v1main.GenerateContentBatchOutput")
    assert done["metadata"]["output"] == {
        k: v for k, v in output.items() if k != "@type"
    }
    inlined = output["inlinedResponses"]["inlinedResponses"]
    assert [r["metadata"] for r in inlined] == [{"key": f"row-{i}"} for i in range(6)]
    for (model, body), row in zip(REQUESTS, inlined, strict=True):
        online = await _online(emu, model, body)
        assert essentials(row["response"]) == essentials(online)
        assert row["response"].get("promptFeedback") == online.get("promptFeedback")
    function_row = inlined[3]["response"]["candidates"][0]["content"]["parts"][0]
    assert function_row["functionCall"]["name"] == "get_weather"


async def test_file_batch_writes_a_results_file(make_emu: MakeEmu) -> None:
    emu = await make_emu(**FAST)
    input_rows = [line(f"k{i}", f"File row {i}", thinking_config={"thinking_level": "low"}) for i in range(5)]  # fmt: skip
    name = await upload(emu, jsonl(input_rows))
    op = await create_ok(
        emu, {"displayName": "file", "inputConfig": {"fileName": name}}
    )
    assert op["metadata"]["inputConfig"] == {"fileName": name}
    done = await wait(emu, op["name"])
    result = done["response"]["responsesFile"]
    assert result == done["metadata"]["output"]["responsesFile"]
    assert result.startswith("files/batch-")
    data = await download(emu, result)
    assert data == await download(emu, result, prefix="")  # the SDK's route
    out = rows(data)
    assert [r["key"] for r in out] == [f"k{i}" for i in range(5)]
    for row, source in zip(out, input_rows, strict=True):
        online = await _online(emu, FLASH, source["request"])
        assert essentials(row["response"]) == essentials(online)
    async with emu.session.get(
        f"{emu.base_url}/v1beta/{result}", headers={"x-goog-api-key": KEY}
    ) as resp:
        file = await resp.json()
    assert file["source"] == "GENERATED" and file["state"] == "ACTIVE"
    assert (
        file["sizeBytes"] == str(len(data)) and file["mimeType"] == "application/jsonl"
    )
    assert file["downloadUri"].endswith(f"/download/v1beta/{result}:download?alt=media")


async def test_per_line_errors_keep_their_place(make_emu: MakeEmu) -> None:
    emu = await make_emu(**FAST)
    data = jsonl([
        line("ok", "Fine row"),
        b"{not json",
        {"key": "unknown-field", "request": {"contents": [{"parts": [{"text": "x"}]}], "bogus": 1}},
        line("fails", "Chosen to fail [[emu:fail=503]]"),
        line("bad-level", "x", thinking_config={"thinking_level": "ultra"}),
        {"contents": [{"parts": [{"text": "A bare request without key"}]}]},
        line("typo", "[[emu:fial=500]]"),
    ])  # fmt: skip
    op = await create_ok(emu, {"inputConfig": {"fileName": await upload(emu, data)}})
    done = await wait(emu, op["name"])
    stats = done["metadata"]["batchStats"]
    assert stats == {
        "requestCount": "7",
        "successfulRequestCount": "2",
        "failedRequestCount": "5",
    }
    assert done["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    out = rows(await download(emu, done["response"]["responsesFile"]))
    assert len(out) == 7
    assert "response" in out[0] and out[0]["key"] == "ok"
    assert out[1] == {"error": out[1]["error"]} and out[1]["error"]["code"] == 400
    assert out[1]["error"]["message"].startswith("Invalid JSON payload received.")
    assert (
        out[2]["key"] == "unknown-field"
        and 'Unknown name "bogus"' in out[2]["error"]["message"]
    )
    assert out[3]["error"] == {"code": 503, "message": "The model is overloaded. Please try again later.",
                               "status": "UNAVAILABLE"}  # fmt: skip
    assert out[4]["error"]["status"] == "INVALID_ARGUMENT"
    assert "key" not in out[5] and "response" in out[5]
    assert out[6]["key"] == "typo" and "fial" in out[6]["error"]["message"]


async def test_states_and_stats_follow_the_clock(make_emu: MakeEmu) -> None:
    emu = await make_emu(batch_pending_s=0.2, batch_rows_per_s=25.0)
    requests = [{"request": text_body(f"r{i}")} for i in range(10)]
    op = await create_ok(emu, {"inputConfig": {"requests": {"requests": requests}}})
    seen: list[tuple[str, dict[str, str]]] = []
    while not op.get("done"):
        meta = op["metadata"]
        seen.append((meta["state"], meta.get("batchStats", {})))
        await asyncio.sleep(0.05)
        op = await get(emu, op["name"])
    states = [s for s, _ in seen]
    assert states[0] == "BATCH_STATE_PENDING" and "BATCH_STATE_RUNNING" in states
    assert states.index("BATCH_STATE_RUNNING") >= 3  # pending for 0.2 s
    partial = [
        st
        for s, st in seen
        if s == "BATCH_STATE_RUNNING" and "successfulRequestCount" in st
    ]
    assert partial, seen
    for st in partial:
        assert (
            int(st["successfulRequestCount"]) + int(st.get("pendingRequestCount", "0"))
            == 10
        )
        assert all(isinstance(v, str) for v in st.values())
    assert op["metadata"]["batchStats"] == {
        "requestCount": "10",
        "successfulRequestCount": "10",
    }


async def test_cancel_keeps_what_was_answered(make_emu: MakeEmu) -> None:
    emu = await make_emu(batch_pending_s=0.0, batch_rows_per_s=20.0)
    name = await upload(emu, jsonl([line(f"k{i}", f"row {i}") for i in range(40)]))
    op = await create_ok(emu, {"inputConfig": {"fileName": name}})
    await asyncio.sleep(0.3)
    status, body, _ = await emu.post(f"/v1beta/{op['name']}:cancel", {})
    assert (status, body) == (200, {})
    done = await get(emu, op["name"])
    assert done["metadata"]["state"] == "BATCH_STATE_CANCELLED" and done["done"] is True
    assert done["error"]["code"] == 1 and "response" not in done
    answered = int(done["metadata"]["batchStats"]["successfulRequestCount"])
    assert 1 <= answered < 40
    out = rows(await download(emu, done["metadata"]["output"]["responsesFile"]))
    assert len(out) == answered
    await asyncio.sleep(0.1)
    assert (await get(emu, op["name"]))["metadata"]["batchStats"] == done["metadata"][
        "batchStats"
    ]
    status, again, _ = await emu.post(f"/v1beta/{op['name']}:cancel", {})
    assert status == 400 and again["error"]["status"] == "FAILED_PRECONDITION"


async def test_jobs_expire_without_results(make_emu: MakeEmu) -> None:
    emu = await make_emu(batch_pending_s=0.0, batch_rows_per_s=5.0, batch_expire_s=0.3)
    name = await upload(emu, jsonl([line(f"k{i}", f"row {i}") for i in range(20)]))
    op = await wait(
        emu, (await create_ok(emu, {"inputConfig": {"fileName": name}}))["name"]
    )
    assert op["metadata"]["state"] == "BATCH_STATE_EXPIRED"
    assert op["error"]["code"] == 4 and "output" not in op["metadata"]
    async with emu.session.get(
        emu.base_url + "/v1beta/files", headers={"x-goog-api-key": KEY}
    ) as resp:
        files = (await resp.json())["files"]
    assert [f["source"] for f in files] == ["UPLOADED"]
    stalled = await create_ok(emu, {
        "displayName": "stall [[emu:batch_stall=1, rows_per_s=1000]]",
        "inputConfig": {"requests": {"requests": [{"request": text_body("a")}, {"request": text_body("b")}]}},
    })  # fmt: skip
    op = await wait(emu, stalled["name"])
    assert op["metadata"]["state"] == "BATCH_STATE_EXPIRED"
    assert op["metadata"]["batchStats"]["successfulRequestCount"] == "1"


async def test_fail_directive_and_fail_rate(make_emu: MakeEmu) -> None:
    emu = await make_emu(**FAST)
    requests = {"requests": [{"request": text_body(f"r{i}")} for i in range(4)]}
    op = await create_ok(
        emu,
        {
            "displayName": "job [[emu:batch_fail=2]]",
            "inputConfig": {"requests": requests},
        },
    )
    done = await wait(emu, op["name"])
    assert (
        done["metadata"]["state"] == "BATCH_STATE_FAILED"
        and done["error"]["code"] == 13
    )
    assert done["metadata"]["batchStats"]["successfulRequestCount"] == "2"
    assert "output" not in done["metadata"] and "response" not in done
    status, body = await create(
        emu,
        {"displayName": "[[emu:batch_explode]]", "inputConfig": {"requests": requests}},
    )
    assert status == 400 and "batch_explode" in body["error"]["message"]
    always = await make_emu(batch_fail_rate=1.0, **FAST)
    done = await wait(
        always,
        (await create_ok(always, {"inputConfig": {"requests": requests}}))["name"],
    )
    assert done["metadata"]["state"] == "BATCH_STATE_FAILED"
    assert always.ledger()["batch"]["jobs_finished"] == {"FAILED": 1}  # fmt: skip


async def test_list_pages_get_and_delete(make_emu: MakeEmu) -> None:
    emu = await make_emu(**FAST)
    names = []
    for i in range(3):
        op = await create_ok(emu, {"displayName": f"job{i}", "inputConfig": {"requests": {"requests": [{"request": text_body("x")}]}}})  # fmt: skip
        names.append(op["name"])
    async with emu.session.get(
        emu.base_url + "/v1beta/batches?pageSize=2", headers={"x-goog-api-key": KEY}
    ) as resp:
        first = await resp.json()
    assert [o["name"] for o in first["operations"]] == names[::-1][:2]
    async with emu.session.get(
        emu.base_url + f"/v1beta/batches?pageSize=2&pageToken={first['nextPageToken']}",
        headers={"x-goog-api-key": KEY},
    ) as resp:
        second = await resp.json()
    assert [o["name"] for o in second["operations"]] == [
        names[0]
    ] and "nextPageToken" not in second
    async with emu.session.delete(
        f"{emu.base_url}/v1beta/{names[1]}", headers={"x-goog-api-key": KEY}
    ) as resp:
        assert resp.status == 200 and await resp.json() == {}
    async with emu.session.get(
        f"{emu.base_url}/v1beta/{names[1]}", headers={"x-goog-api-key": KEY}
    ) as resp:
        assert (
            resp.status == 404 and (await resp.json())["error"]["status"] == "NOT_FOUND"
        )
    status, _, _ = await emu.post(f"/v1beta/{names[2]}:delete", {})
    assert status == 200
    async with emu.session.get(
        emu.base_url + "/v1beta/batches", headers={"x-goog-api-key": KEY}
    ) as resp:
        assert [o["name"] for o in (await resp.json())["operations"]] == [names[0]]
    async with emu.session.get(emu.base_url + "/v1beta/batches") as resp:
        assert resp.status == 403


async def test_enqueued_token_quota_and_concurrent_jobs(make_emu: MakeEmu) -> None:
    emu = await make_emu(
        batch_pending_s=0.0, batch_rows_per_s=20.0, batch_enqueued_tokens=100
    )
    requests = {
        "requests": [{"request": text_body("x" * 160)} for _ in range(10)]
    }  # 40 tokens each
    status, body = await create(emu, {"inputConfig": {"requests": requests}})
    assert status == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body["error"]["message"].startswith("You exceeded your current quota")
    assert body["error"]["message"].endswith(
        "To monitor your current usage, head to: https://ai.dev/rate-limit. "
    )
    assert [d["@type"] for d in body["error"]["details"]] == [
        "type.googleapis.com/google.rpc.Help"
    ]
    two = {"requests": requests["requests"][:2]}
    first = await create_ok(emu, {"inputConfig": {"requests": two}})
    status, _ = await create(emu, {"inputConfig": {"requests": two}})  # 80 + 80 > 100
    assert status == 429
    status, _ = await create(
        emu, {"inputConfig": {"requests": two}}, model=PRO
    )  # per model
    assert status == 200
    await wait(emu, first["name"])
    assert (await create(emu, {"inputConfig": {"requests": two}}))[0] == 200
    limited = await make_emu(batch_pending_s=5.0, batch_max_concurrent=1)
    assert (await create(limited, {"inputConfig": {"requests": two}}))[0] == 200
    status, body = await create(limited, {"inputConfig": {"requests": two}})
    assert status == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"


async def test_input_file_checks(make_emu: MakeEmu) -> None:
    emu = await make_emu(batch_max_input_bytes=1000, **FAST)
    big = await upload(emu, jsonl([line(f"k{i}", "y" * 100) for i in range(10)]))
    status, body = await create(emu, {"inputConfig": {"fileName": big}})
    assert status == 400 and "limited to 1000 bytes" in body["error"]["message"]
    status, body = await create(emu, {"inputConfig": {"fileName": "files/nope"}})
    assert status == 403
    empty = await upload(emu, b"\n\n")
    status, body = await create(emu, {"inputConfig": {"fileName": empty}})
    assert status == 400 and "no requests" in body["error"]["message"]
    slow = await make_emu(file_processing_s=5.0)
    name = await upload(slow, jsonl([line("a", "b")]))
    status, body = await create(slow, {"inputConfig": {"fileName": name}})
    assert status == 400 and body["error"]["status"] == "FAILED_PRECONDITION"


async def test_create_validation(emu: Emu) -> None:
    one = {"requests": {"requests": [{"request": text_body("x")}]}}
    status, body = await create(emu, {"inputConfig": one, "colour": "red"})
    assert status == 400 and 'Unknown name "colour"' in body["error"]["message"]
    status, body = await create(emu, {"inputConfig": {**one, "fileName": "files/x"}})
    assert status == 400 and "exactly one" in body["error"]["message"]
    status, body = await create(emu, {"displayName": "no input"})
    assert status == 400
    status, body = await create(emu, {"inputConfig": {"requests": {"requests": []}}})
    assert status == 400
    status, body = await create(emu, {"inputConfig": one}, model="gemini-0-nope")
    assert status == 404 and "batchGenerateContent" in body["error"]["message"]
    status, body, _ = await emu.post(f"/v1beta/models/{FLASH}:batchGenerateContent", {"batch": {"inputConfig": one}}, key=None)  # fmt: skip
    assert status == 403
    big = {"requests": {"requests": [{"request": text_body("z" * (21 * 1024 * 1024))}]}}
    raw = json.dumps({"batch": {"inputConfig": big}}).encode()
    status, body, _ = await emu.post(
        f"/v1beta/models/{FLASH}:batchGenerateContent", raw=raw
    )
    assert status == 400 and "20971520" in body["error"]["message"]
    async with emu.session.get(
        emu.base_url + "/v1beta/batches/nope", headers={"x-goog-api-key": KEY}
    ) as resp:
        assert resp.status == 404


async def test_uploaded_files_cannot_be_downloaded(emu: Emu) -> None:
    name = await upload(emu, b'{"a": 1}\n')
    async with emu.session.get(
        f"{emu.base_url}/download/v1beta/{name}:download?alt=media",
        headers={"x-goog-api-key": KEY},
    ) as resp:
        assert (
            resp.status == 400
            and "generated" in (await resp.json())["error"]["message"]
        )


async def test_ledger_counts_batch_lines_apart(make_emu: MakeEmu) -> None:
    emu = await make_emu(**FAST)
    requests = [{"request": body} for _, body in REQUESTS[:3]] + [
        {"request": text_body("[[emu:fail=500]]")}
    ]
    op = await wait(
        emu,
        (await create_ok(emu, {"inputConfig": {"requests": {"requests": requests}}}))[
            "name"
        ],
    )
    ledger = emu.ledger()
    assert ledger["tokens"]["input"] == 0  # online counters untouched
    batch = ledger["batch"]
    assert batch["jobs_created"] == 1 and batch["jobs_by_door"] == {"gemini": 1}
    assert batch["jobs_finished"] == {"SUCCEEDED": 1}
    assert (batch["lines"], batch["lines_ok"], batch["lines_failed"]) == (4, 3, 1)
    usages = [
        r["response"]["usageMetadata"]
        for r in op["response"]["inlinedResponses"]["inlinedResponses"][:3]
    ]
    assert batch["tokens"]["input"] == sum(u["promptTokenCount"] for u in usages)
    assert batch["tokens"]["output"] == sum(
        u.get("candidatesTokenCount", 0) for u in usages
    )
    assert batch["tokens"]["thinking"] == sum(
        u.get("thoughtsTokenCount", 0) for u in usages
    )
    rate_in, rate_out = prices.standard_price(FLASH)
    expected = 0.5 * (batch["tokens"]["input"] * rate_in + (batch["tokens"]["output"] + batch["tokens"]["thinking"]) * rate_out) / 1e6  # fmt: skip
    assert batch["cost_usd"] == pytest.approx(expected)
    assert batch["by_model"][FLASH]["lines"] == 4
    routes = ledger["requests_by_route"]
    assert routes["POST /v1beta/models/{model}:batchGenerateContent"] == {"200": 1}
    assert routes["GET /v1beta/batches/{id}"]["200"] >= 1


async def test_image_batch_bills_image_tokens(make_emu: MakeEmu) -> None:
    emu = await make_emu(**FAST)
    body = text_body(
        "A lighthouse",
        responseModalities=["TEXT", "IMAGE"],
        imageConfig={"imageSize": "4K"},
    )
    op = await wait(emu, (await create_ok(emu, {"inputConfig": {"requests": {"requests": [{"request": body}]}}}, model=IMAGE))["name"])  # fmt: skip
    row = op["response"]["inlinedResponses"]["inlinedResponses"][0]["response"]
    assert any("inlineData" in p for p in row["candidates"][0]["content"]["parts"])
    batch = emu.ledger()["batch"]
    assert batch["tokens"]["image_output"] == 2000
    assert batch["by_model"][IMAGE]["cost_usd"] >= 0.5 * 2000 * 120 / 1e6


async def test_processing_does_not_block_the_server(make_emu: MakeEmu) -> None:
    emu = await make_emu(batch_pending_s=0.0, batch_rows_per_s=1e9)
    n = 8_000
    name = await upload(emu, jsonl([line(f"k{i}", f"row {i}") for i in range(n)]))
    op = await create_ok(emu, {"inputConfig": {"fileName": name}})
    slowest, running = 0.0, 0
    while (await get(emu, op["name"]))["metadata"]["state"] != "BATCH_STATE_SUCCEEDED":
        started = time.monotonic()
        status, _ = await emu.generate(text_body(f"still answering? {running}"))
        assert status == 200
        slowest = max(slowest, time.monotonic() - started)
        running += 1
    assert running >= 3 and slowest < 0.5, (running, slowest)
    done = await get(emu, op["name"])
    assert done["metadata"]["batchStats"]["successfulRequestCount"] == str(n)


async def test_results_survive_input_deletion_and_reset(make_emu: MakeEmu) -> None:
    emu = await make_emu(batch_pending_s=0.1, batch_rows_per_s=1000.0)
    name = await upload(emu, jsonl([line("a", "one"), line("b", "two")]))
    op = await create_ok(emu, {"inputConfig": {"fileName": name}})
    async with emu.session.delete(
        f"{emu.base_url}/v1beta/{name}", headers={"x-goog-api-key": KEY}
    ) as resp:
        assert resp.status == 200
    async with emu.session.post(emu.base_url + "/_emulator/reset") as resp:
        assert resp.status == 200
    done = await wait(emu, op["name"])
    assert done["metadata"]["batchStats"]["successfulRequestCount"] == "2"
    assert (
        json.loads(
            (await download(emu, done["response"]["responsesFile"])).splitlines()[1]
        )["key"]
        == "b"
    )
    assert emu.ledger()["batch"]["lines"] == 2


async def test_shuffle_directive_returns_inlined_responses_out_of_order(
    make_emu: MakeEmu,
) -> None:
    emu = await make_emu(**FAST)
    requests = [
        {"request": text_body(f"row {i}"), "metadata": {"key": str(i)}}
        for i in range(12)
    ]
    batch = {
        "displayName": "[[emu:shuffle]]",
        "inputConfig": {"requests": {"requests": requests}},
    }
    op = await wait(emu, (await create_ok(emu, batch))["name"])
    inlined = op["response"]["inlinedResponses"]["inlinedResponses"]
    keys = [r["metadata"]["key"] for r in inlined]
    assert keys != sorted(keys, key=int) and sorted(keys, key=int) == [
        str(i) for i in range(12)
    ]
    for r in inlined:
        text = r["response"]["candidates"][0]["content"]["parts"][0]["text"]
        assert text.startswith(f'Reply to "row {r["metadata"]["key"]}":')
