"""The Files API: resumable upload protocol, states, list / get / delete, and files used in requests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import aiohttp
from emuhelp import KEY, Emu, MakeEmu


async def _start(
    emu: Emu, size: int, mime: str = "text/plain", name: str | None = "notes"
) -> str:
    headers = {
        "x-goog-api-key": KEY,
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": mime,
    }
    meta = {"file": {"display_name": name}} if name else {}
    async with emu.session.post(
        emu.base_url + "/upload/v1beta/files", json=meta, headers=headers
    ) as resp:
        assert resp.status == 200 and resp.headers["x-goog-upload-status"] == "active"
        return resp.headers["X-Goog-Upload-URL"]


async def _chunk(
    emu: Emu, url: str, data: bytes, offset: int, command: str
) -> tuple[int, Any, Any]:
    headers = {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)}
    async with emu.session.post(url, data=data, headers=headers) as resp:
        body = await resp.json() if resp.content_length else None
        return resp.status, body, resp.headers


async def upload(
    emu: Emu, data: bytes, mime: str = "text/plain", chunk: int = 4
) -> dict[str, Any]:
    url = await _start(emu, len(data), mime)
    offset = 0
    while True:
        piece = data[offset : offset + chunk]
        last = offset + len(piece) >= len(data)
        status, body, headers = await _chunk(
            emu, url, piece, offset, "upload, finalize" if last else "upload"
        )
        assert status == 200
        offset += len(piece)
        if last:
            assert headers["x-goog-upload-status"] == "final"
            return body["file"]
        assert headers["x-goog-upload-status"] == "active"


async def test_resumable_upload_in_chunks(emu: Emu) -> None:
    data = b"hello world, " * 10
    file = await upload(emu, data)
    assert file["name"].startswith("files/") and file["displayName"] == "notes"
    assert (
        file["sizeBytes"] == str(len(data))
        and file["mimeType"] == "text/plain"
        and file["state"] == "ACTIVE"
    )
    assert (
        base64.b64decode(file["sha256Hash"]).decode()
        == hashlib.sha256(data).hexdigest()
    )
    assert file["uri"].endswith(file["name"]) and file["source"] == "UPLOADED"
    assert emu.ledger()["uploads"] == {"count": 1, "bytes": len(data)}


async def test_uploaded_file_is_used_in_a_request(emu: Emu) -> None:
    file = await upload(emu, b"x" * 400)
    body = {
        "contents": [
            {
                "parts": [
                    {"fileData": {"mimeType": "text/plain", "fileUri": file["uri"]}},
                    {"text": "abcd"},
                ]
            }
        ]
    }
    status, reply = await emu.generate(body)
    assert status == 200 and reply["usageMetadata"]["promptTokenCount"] == 100 + 1


async def test_processing_file_is_refused_until_active(make_emu: MakeEmu) -> None:
    emu = await make_emu(file_processing_s=0.3)
    file = await upload(emu, b"some text")
    assert file["state"] == "PROCESSING"
    body = {
        "contents": [{"parts": [{"fileData": {"fileUri": file["uri"]}}, {"text": "x"}]}]
    }
    status, reply = await emu.generate(body)
    assert status == 400 and reply["error"]["status"] == "FAILED_PRECONDITION"
    await asyncio.sleep(0.31)
    status, got, _ = await _get(emu, f"/v1beta/{file['name']}")
    assert got["state"] == "ACTIVE"
    assert (await emu.generate(body))[0] == 200


async def test_bytes_that_do_not_match_the_type_leave_a_failed_file(emu: Emu) -> None:
    file = await upload(emu, b"definitely not a png", mime="image/png")
    assert (
        file["state"] == "FAILED"
        and "not a valid image/png" in file["error"]["message"]
    )


async def _get(emu: Emu, path: str, method: str = "GET") -> tuple[int, Any, Any]:
    async with emu.session.request(
        method, emu.base_url + path, headers={"x-goog-api-key": KEY}
    ) as resp:
        return resp.status, await resp.json(), resp.headers


async def test_get_list_with_pages_and_delete(emu: Emu) -> None:
    names = [(await upload(emu, f"file {i}".encode()))["name"] for i in range(3)]
    status, page, _ = await _get(emu, "/v1beta/files?pageSize=2")
    assert status == 200 and len(page["files"]) == 2 and page["nextPageToken"]
    _, rest, _ = await _get(
        emu, f"/v1beta/files?pageSize=2&pageToken={page['nextPageToken']}"
    )
    assert "nextPageToken" not in rest
    assert sorted(f["name"] for f in page["files"] + rest["files"]) == sorted(names)
    status, body, _ = await _get(emu, f"/v1beta/{names[0]}", method="DELETE")
    assert status == 200 and body == {}
    status, body, _ = await _get(emu, f"/v1beta/{names[0]}")
    assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED"


async def test_empty_list_is_an_empty_object(emu: Emu) -> None:
    assert (await _get(emu, "/v1beta/files"))[1] == {}


async def test_wrong_offset_and_size_mismatch_are_400(emu: Emu) -> None:
    url = await _start(emu, 10)
    status, _, _ = await _chunk(emu, url, b"12345", 3, "upload")
    assert status == 400
    status, _, _ = await _chunk(emu, url, b"12345", 0, "upload, finalize")
    assert status == 400  # 5 bytes sent, 10 declared


async def test_start_needs_a_key(emu: Emu) -> None:
    headers = {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Type": "text/plain",
    }
    async with emu.session.post(
        emu.base_url + "/upload/v1beta/files", json={}, headers=headers
    ) as resp:
        assert resp.status == 403


async def test_large_upload_streams_to_disk(make_emu: MakeEmu, tmp_path: Any) -> None:
    emu = await make_emu(storage_dir=str(tmp_path))
    size = 64 * 1024 * 1024
    url = await _start(emu, size)
    block = b"a" * (1 << 20)

    async def body() -> Any:
        for _ in range(size // len(block)):
            yield block

    headers = {
        "X-Goog-Upload-Command": "upload, finalize",
        "X-Goog-Upload-Offset": "0",
        "Content-Length": str(size),
    }
    async with emu.session.post(
        url, data=body(), headers=headers, timeout=aiohttp.ClientTimeout(total=60)
    ) as resp:
        file = (await resp.json())["file"]
    assert file["sizeBytes"] == str(size)
    assert (tmp_path / file["name"].split("/")[1]).stat().st_size == size
