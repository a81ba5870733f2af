"""Helpers of the Batch API tests: upload a JSONL file, create a batch, poll it, read its results."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

from emuhelp import FLASH, KEY, Emu

CREATE = "/v1beta/models/{model}:batchGenerateContent"


def jsonl(rows: list[Any]) -> bytes:
    return b"".join(
        (row if isinstance(row, bytes) else json.dumps(row).encode()) + b"\n"
        for row in rows
    )


def line(key: str, text: str, **config: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": text}]}]
    }
    if config:
        request["generation_config"] = config
    return {"key": key, "request": request}


async def upload(emu: Emu, data: bytes, mime: str = "application/jsonl") -> str:
    """A resumable upload in one chunk; returns the file name (`files/...`)."""
    headers = {
        "x-goog-api-key": KEY,
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(len(data)),
        "X-Goog-Upload-Header-Content-Type": mime,
    }
    async with emu.session.post(
        emu.base_url + "/upload/v1beta/files",
        json={"file": {"display_name": "batch-input"}},
        headers=headers,
    ) as resp:
        assert resp.status == 200, await resp.text()
        url = resp.headers["X-Goog-Upload-URL"]
    chunk = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    async with emu.session.post(url, data=io.BytesIO(data), headers=chunk) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["file"]["name"])


async def create(
    emu: Emu, batch: dict[str, Any], model: str = FLASH
) -> tuple[int, Any]:
    status, body, _ = await emu.post(CREATE.format(model=model), {"batch": batch})
    return status, body


async def create_ok(emu: Emu, batch: dict[str, Any], model: str = FLASH) -> Any:
    status, body = await create(emu, batch, model)
    assert status == 200, body
    return body


async def get(emu: Emu, name: str) -> Any:
    async with emu.session.get(
        f"{emu.base_url}/v1beta/{name}", headers={"x-goog-api-key": KEY}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def wait(emu: Emu, name: str, limit_s: float = 10.0) -> Any:
    """Poll until the operation is done; returns it."""
    deadline = time.monotonic() + limit_s
    while True:
        op = await get(emu, name)
        if op.get("done"):
            return op
        assert time.monotonic() < deadline, op
        await asyncio.sleep(0.02)


async def download(emu: Emu, file_name: str, prefix: str = "/download") -> bytes:
    url = f"{emu.base_url}{prefix}/v1beta/{file_name}:download?alt=media"
    async with emu.session.get(url, headers={"x-goog-api-key": KEY}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.read()


def rows(data: bytes) -> list[Any]:
    return [json.loads(x) for x in data.splitlines() if x.strip()]


def essentials(response: dict[str, Any]) -> tuple[Any, Any, Any]:
    """What must match between a batch row and the online reply: texts, finish reason, usage."""
    candidate = (response.get("candidates") or [{}])[0]
    texts = [p.get("text") for p in candidate.get("content", {}).get("parts", [])]
    return texts, candidate.get("finishReason"), response["usageMetadata"]
