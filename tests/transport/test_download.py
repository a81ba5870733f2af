"""`download`: a 2xx body streamed to a file with flat memory; other statuses come back as bodies."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.errors import TransportError
from pipeline.records import HttpRequest, HttpResponse
from pipeline.transport import HttpTransport, MockTransport

BLOCK = bytes(range(256)) * 4096  # 1 MiB
BLOCKS = 48


async def big(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/jsonl"})
    await response.prepare(request)
    for _ in range(BLOCKS):
        await response.write(BLOCK)
    await response.write_eof()
    return response


async def missing(request: web.Request) -> web.Response:
    return web.json_response(
        {"error": {"code": 404, "message": "no such file"}}, status=404
    )


async def cut(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": str(10 * len(BLOCK))})
    await response.prepare(request)
    await response.write(BLOCK)
    assert request.transport is not None
    request.transport.close()
    return response


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/missing", missing)
    app.router.add_get("/cut", cut)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    yield test_server
    await test_server.close()


async def test_a_large_body_goes_to_disk_without_being_held(
    server: TestServer, tmp_path: Path
) -> None:
    target = tmp_path / "results.jsonl"
    async with HttpTransport(concurrency=1) as transport:
        tracemalloc.start()
        try:
            response = await transport.download(
                HttpRequest("GET", str(server.make_url("/big")), {}), str(target)
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.status == 200 and response.body == b""
    assert target.stat().st_size == BLOCKS * len(BLOCK)
    expected = hashlib.sha256(BLOCK * BLOCKS).hexdigest()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == expected
    assert peak < 8 * len(BLOCK), f"{peak} bytes held for a {BLOCKS} MiB body"


async def test_an_error_status_returns_its_body_and_leaves_the_file(
    server: TestServer, tmp_path: Path
) -> None:
    target = tmp_path / "results.jsonl"
    async with HttpTransport(concurrency=1) as transport:
        response = await transport.download(
            HttpRequest("GET", str(server.make_url("/missing")), {}), str(target)
        )
    assert response.status == 404 and b"no such file" in response.body
    assert not target.exists()


async def test_a_cut_body_is_a_transport_error(
    server: TestServer, tmp_path: Path
) -> None:
    async with HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError):
            await transport.download(
                HttpRequest("GET", str(server.make_url("/cut")), {}),
                str(tmp_path / "results.jsonl"),
            )


async def test_the_mock_transport_downloads_what_its_handler_returns(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out"
    mock = MockTransport(lambda request: HttpResponse(200, {}, b"a\nb\n"))
    response = await mock.download(HttpRequest("GET", "http://x", {}), str(target))
    assert response.body == b"" and target.read_bytes() == b"a\nb\n"
