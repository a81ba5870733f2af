"""OpenAI-compatible batches: the aggregator's /v1/files and /v1/batches through the openai SDK, and
Google's layer (/v1beta/openai/batches) with native files."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import openai
import pytest
from emuhelp import FLASH, KEY, MakeEmu
from google import genai
from google.genai import types

from pipeline.emulator import EmulatorConfig, EmulatorThread

FINAL = {"completed", "failed", "cancelled", "expired"}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    config = EmulatorConfig(
        port=0, api_key=KEY, batch_pending_s=0.05, batch_rows_per_s=2000.0
    )
    with EmulatorThread(config) as server:
        yield server


@pytest.fixture
def client(emu: EmulatorThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=emu.base_url + "/v1", api_key=KEY, max_retries=0) as c:
        yield c


def _line(custom_id: str, content: str, **extra: Any) -> dict[str, Any]:
    body = {"model": FLASH, "messages": [{"role": "user", "content": content}], **extra}
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": body,
    }


def _jsonl(rows: list[Any]) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows
    )


def _wait(client: openai.OpenAI, batch_id: str) -> Any:
    deadline = time.monotonic() + 10
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in FINAL:
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.05)


def test_aggregator_batch_end_to_end(client: openai.OpenAI) -> None:
    rows = [
        _line("a", "Hello there"),
        _line("b", "Think a little", reasoning_effort="low"),
        _line("c", "Bad effort", reasoning_effort="extreme"),
        _line("d", "Injected [[emu:fail=503]]"),
    ]
    uploaded = client.files.create(file=("in.jsonl", _jsonl(rows)), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes == len(_jsonl(rows))
    assert client.files.retrieve(uploaded.id).filename == "in.jsonl"
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions",
        completion_window="24h", metadata={"job": "nightly"},
    )  # fmt: skip
    assert batch.status == "validating" and batch.id.startswith("batch_")
    assert batch.metadata == {"job": "nightly"} and batch.input_file_id == uploaded.id
    done = _wait(client, batch.id)
    assert done.status == "completed" and done.completed_at is not None
    assert done.request_counts is not None
    assert (
        done.request_counts.total,
        done.request_counts.completed,
        done.request_counts.failed,
    ) == (4, 2, 2)
    assert done.output_file_id and done.error_file_id
    out = [
        json.loads(x)
        for x in client.files.content(done.output_file_id).text.splitlines()
    ]
    assert [o["custom_id"] for o in out] == ["a", "b"]
    for o, row in zip(out, rows, strict=False):
        assert o["response"]["status_code"] == 200 and o["error"] is None
        online = client.chat.completions.create(**row["body"])
        completion = o["response"]["body"]
        assert (
            completion["choices"][0]["message"]["content"]
            == online.choices[0].message.content
        )
        assert completion["usage"] == online.usage.model_dump(exclude_none=True)
    errors = [
        json.loads(x)
        for x in client.files.content(done.error_file_id).text.splitlines()
    ]
    assert {e["custom_id"]: e["response"]["status_code"] for e in errors} == {
        "c": 400,
        "d": 503,
    }
    assert errors[0]["response"]["body"]["error"]["type"] == "invalid_request_error"
    assert done.usage is not None and done.usage.input_tokens > 0
    output_file = client.files.retrieve(done.output_file_id)
    assert output_file.purpose == "batch_output"
    assert batch.id in [b.id for b in client.batches.list(limit=5)]


def test_validation_failure(client: openai.OpenAI) -> None:
    rows: list[Any] = [
        _line("a", "fine"),
        b"{oops",
        _line("a", "duplicate id"),
        {**_line("x", "wrong url"), "url": "/v1/embeddings"},
    ]
    uploaded = client.files.create(file=("bad.jsonl", _jsonl(rows)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    done = _wait(client, batch.id)
    assert done.status == "failed" and done.failed_at is not None
    assert done.errors is not None and done.errors.data is not None
    assert [(e.code, e.line) for e in done.errors.data] == [
        ("invalid_json_line", 2), ("duplicate_custom_id", 3), ("invalid_url", 4),
    ]  # fmt: skip
    assert done.output_file_id is None


def test_cancel_files_and_errors(client: openai.OpenAI) -> None:
    rows = [_line(f"r{i}", f"row {i}") for i in range(40)]
    uploaded = client.files.create(file=("slow.jsonl", _jsonl(rows)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions",
        completion_window="24h", metadata={"emu": "[[emu:rows_per_s=10]]"},
    )  # fmt: skip
    time.sleep(0.3)
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert (
        cancelled.request_counts is not None
        and 0 < cancelled.request_counts.completed < 40
    )
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(batch.id)
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
    with pytest.raises(openai.BadRequestError):
        client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/embeddings",
            completion_window="24h",
        )
    with pytest.raises(openai.NotFoundError):
        client.batches.create(
            input_file_id="file-missing",
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
    assert uploaded.id in [f.id for f in client.files.list(purpose="batch")]
    assert client.files.delete(uploaded.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=str(client.base_url), api_key="wrong", max_retries=0
        ).files.list()


def test_google_layer_uses_native_files(emu: EmulatorThread) -> None:
    gemini = genai.Client(
        api_key=KEY, http_options=types.HttpOptions(base_url=emu.base_url)
    )
    rows = [_line("x", "Via Google's layer"), _line("y", "Also [[emu:fail=429]]")]
    uploaded = gemini.files.upload(
        file=io.BytesIO(_jsonl(rows)),
        config=types.UploadFileConfig(mime_type="jsonl", display_name="compat"),
    )
    assert uploaded.name is not None
    with openai.OpenAI(
        base_url=emu.base_url + "/v1beta/openai", api_key=KEY, max_retries=0
    ) as client:
        batch = client.batches.create(
            input_file_id=uploaded.name,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        assert batch.id.startswith("batches/")
        done = _wait(client, batch.id)
        with pytest.raises(openai.NotFoundError):
            client.batches.list()
    assert done.status == "completed" and done.output_file_id and done.error_file_id
    assert done.output_file_id.startswith("files/batch-")
    out = [
        json.loads(x)
        for x in gemini.files.download(file=done.output_file_id).splitlines()
    ]
    assert (
        out[0]["custom_id"] == "x"
        and out[0]["response"]["body"]["object"] == "chat.completion"
    )
    err = [
        json.loads(x)
        for x in gemini.files.download(file=done.error_file_id).splitlines()
    ]
    assert err[0]["response"]["status_code"] == 429
    assert err[0]["response"]["body"][0]["error"]["status"] == "RESOURCE_EXHAUSTED"
    native = gemini.batches.get(name=batch.id)
    assert native.state == types.JobState.JOB_STATE_SUCCEEDED


async def test_expired_aggregator_batch_keeps_answered_lines(make_emu: MakeEmu) -> None:
    emu = await make_emu(batch_pending_s=0.0, batch_rows_per_s=20.0, batch_expire_s=0.4)
    auth = {"Authorization": f"Bearer {KEY}"}
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    rows = [_line(f"r{i}", f"row {i}") for i in range(50)]
    form.add_field("file", _jsonl(rows), filename="rows.jsonl")
    async with emu.session.post(
        emu.base_url + "/v1/files", data=form, headers=auth
    ) as resp:
        file_id = (await resp.json())["id"]
    create = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    async with emu.session.post(
        emu.base_url + "/v1/batches", json=create, headers=auth
    ) as resp:
        batch = await resp.json()
    while batch["status"] not in FINAL:
        await asyncio.sleep(0.05)
        async with emu.session.get(
            f"{emu.base_url}/v1/batches/{batch['id']}", headers=auth
        ) as resp:
            batch = await resp.json()
    assert batch["status"] == "expired" and batch["expired_at"] is not None
    answered = batch["request_counts"]["completed"]
    assert 0 < answered < 50
    async with emu.session.get(
        f"{emu.base_url}/v1/files/{batch['output_file_id']}/content", headers=auth
    ) as resp:
        assert len((await resp.read()).splitlines()) == answered
    assert emu.ledger()["batch"]["jobs_by_door"] == {"openai": 1}
