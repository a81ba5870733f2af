"""The aiohttp transport against a real aiohttp.web server on 127.0.0.1, and its exception mapping."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.errors import AttemptError, RequestRejected, TransportError
from pipeline.records import FileSlice, HttpRequest, HttpResponse
from pipeline.transport import HttpTransport, MockTransport
from pipeline.transport._aiohttp import (
    EXCEPTION_CODES,
    map_aiohttp_exceptions,
    mapping_for,
)


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    peer = request.transport.get_extra_info("peername") if request.transport else None
    seen = {
        "method": request.method,
        "headers": {name.lower(): value for name, value in request.headers.items()},
        "body": body.decode(),
        "peer": list(peer) if peer else None,
    }
    return web.json_response(
        seen, headers={"X-Goog-Upload-Status": "final", "Retry-After": "3"}
    )


async def digest(request: web.Request) -> web.Response:
    """Hash the body as it streams in, so the test server holds no more of it than the client should."""
    hasher = hashlib.sha256()
    size = 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        hasher.update(chunk)
        size += len(chunk)
    result = {
        "sha256": hasher.hexdigest(),
        "size": size,
        "content_length": request.headers.get("Content-Length"),
        "transfer_encoding": request.headers.get("Transfer-Encoding"),
    }
    return web.json_response(result)


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(text="late")


async def reset(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.abort()
    await asyncio.sleep(1)
    return web.Response(text="never")


async def truncated(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "1000"})
    await response.prepare(request)
    await response.write(b'{"candidates": [')
    assert request.transport is not None
    request.transport.close()
    return response


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/echo")


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/echo", echo)
    app.router.add_post("/digest", digest)
    app.router.add_get("/slow", slow)
    app.router.add_get("/reset", reset)
    app.router.add_get("/truncated", truncated)
    app.router.add_get("/redirect", redirect)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    yield test_server
    await test_server.close()


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


async def test_send_bytes_and_read_the_whole_response(server: TestServer) -> None:
    async with HttpTransport(concurrency=4) as transport:
        request = HttpRequest(
            "POST",
            url(server, "/echo"),
            {"x-goog-api-key": "k", "content-type": "application/json"},
            b'{"a":1}',
        )
        response = await transport.send(request)
    assert response.status == 200
    assert response.headers["x-goog-upload-status"] == "final"  # names lower-cased
    assert response.headers["retry-after"] == "3"
    assert response.elapsed_ms > 0
    seen = json.loads(response.body)
    assert seen["method"] == "POST"
    assert seen["body"] == '{"a":1}'
    assert seen["headers"]["x-goog-api-key"] == "k"
    assert seen["headers"]["content-type"] == "application/json"


async def test_get_without_body(server: TestServer) -> None:
    async with HttpTransport(concurrency=1) as transport:
        response = await transport.send(HttpRequest("GET", url(server, "/echo"), {}))
    assert json.loads(response.body)["method"] == "GET"


async def test_connections_are_pooled_and_bounded(server: TestServer) -> None:
    async with HttpTransport(concurrency=4) as transport:
        request = HttpRequest("POST", url(server, "/echo"), {}, b"x")
        responses = await asyncio.gather(*(transport.send(request) for _ in range(60)))
    peers = {tuple(json.loads(r.body)["peer"]) for r in responses}
    assert 1 <= len(peers) <= 4


async def test_total_timeout(server: TestServer) -> None:
    async with HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(
                HttpRequest("GET", url(server, "/slow"), {}, timeout_s=0.2)
            )
    assert caught.value.code == "TIMEOUT"
    assert "0.2 s" in str(caught.value)
    assert caught.value.retryable


async def test_connection_reset(server: TestServer) -> None:
    async with HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(
                HttpRequest("GET", url(server, "/reset"), {}, timeout_s=5)
            )
    assert caught.value.code == "CONNECTION_RESET"


async def test_truncated_body(server: TestServer) -> None:
    async with HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(
                HttpRequest("GET", url(server, "/truncated"), {}, timeout_s=5)
            )
    assert caught.value.code == "TRUNCATED"


async def test_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(
                HttpRequest("GET", f"http://127.0.0.1:{port}/", {}, timeout_s=5)
            )
    assert caught.value.code == "CONNECT_ERROR"


async def test_redirects_are_returned_not_followed(server: TestServer) -> None:
    async with HttpTransport(concurrency=1) as transport:
        response = await transport.send(
            HttpRequest("GET", url(server, "/redirect"), {})
        )
    assert response.status == 302
    assert response.headers["location"] == "/echo"


async def test_a_bad_url_is_rejected_not_retried() -> None:
    async with HttpTransport(concurrency=1) as transport:
        with pytest.raises(RequestRejected) as caught:
            await transport.send(HttpRequest("GET", "ftp://127.0.0.1/x", {}))
    assert caught.value.code == "INVALID_URL"


async def test_send_outside_the_context_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await HttpTransport(concurrency=1).send(
            HttpRequest("GET", "http://127.0.0.1/", {})
        )


async def test_streamed_file_slice_upload(server: TestServer, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    block = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB of varied bytes
    with path.open("wb") as file:
        for i in range(20):
            file.write(bytes([i]) + block[1:])
        file.write(b"tail")
    data = path.read_bytes()
    offset, length = 12345, 20 * 1024 * 1024 - 12345 + 3
    expected = hashlib.sha256(data[offset : offset + length]).hexdigest()
    async with HttpTransport(concurrency=1) as transport:
        tracemalloc.start()
        try:
            response = await transport.send(
                HttpRequest(
                    "POST",
                    url(server, "/digest"),
                    {},
                    FileSlice(str(path), offset, length),
                )
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    seen = json.loads(response.body)
    assert seen == {
        "sha256": expected,
        "size": length,
        "content_length": str(length),
        "transfer_encoding": None,
    }
    assert peak < 8 * 1024 * 1024, (
        f"peak {peak} bytes while sending {length}: the body was not streamed"
    )


async def test_a_slice_past_the_end_of_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "small.bin"
    path.write_bytes(b"0123456789")
    async with HttpTransport(concurrency=1) as transport:
        for piece in (
            FileSlice(str(path), 5, 6),
            FileSlice(str(tmp_path / "missing"), 0, 1),
        ):
            with pytest.raises(RequestRejected) as caught:
                await transport.send(
                    HttpRequest("POST", "http://127.0.0.1:9/", {}, piece)
                )
            assert caught.value.code == "FILE_UNREADABLE"


# --- the exception mapping -------------------------------------------------------------------------------------


def all_subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("aiohttp"):
            found.add(sub)
        found |= all_subclasses(sub)
    return found


def test_every_aiohttp_client_error_is_mapped() -> None:
    classes = all_subclasses(aiohttp.ClientError) | {aiohttp.ClientError}
    missing = sorted(cls.__name__ for cls in classes if cls not in EXCEPTION_CODES)
    assert not missing, (
        f"add these aiohttp exceptions to transport.EXCEPTION_CODES: {missing}"
    )


@pytest.mark.parametrize(
    ("exc", "target", "code"),
    [
        (TimeoutError(), TransportError, "TIMEOUT"),
        (aiohttp.ServerDisconnectedError(), TransportError, "CONNECTION_RESET"),
        (
            aiohttp.ClientOSError(104, "Connection reset by peer"),
            TransportError,
            "CONNECTION_RESET",
        ),
        (
            aiohttp.ClientPayloadError("Response payload is not completed"),
            TransportError,
            "TRUNCATED",
        ),
        (
            aiohttp.SocketTimeoutError("Timeout on reading data from socket"),
            TransportError,
            "TIMEOUT",
        ),
        (
            aiohttp.ConnectionTimeoutError("Connection timeout"),
            TransportError,
            "CONNECT_ERROR",
        ),
        (ConnectionResetError(), TransportError, "CONNECTION_RESET"),
        (aiohttp.InvalidURL("x"), RequestRejected, "INVALID_URL"),
    ],
)
def test_mapping(exc: BaseException, target: type[AttemptError], code: str) -> None:
    with pytest.raises(target) as caught, map_aiohttp_exceptions():
        raise exc
    assert caught.value.code == code
    assert caught.value.__cause__ is exc


def test_the_most_specific_entry_wins() -> None:
    class Custom(aiohttp.ServerDisconnectedError):
        pass

    assert mapping_for(Custom()) == (TransportError, "CONNECTION_RESET")
    assert mapping_for(
        aiohttp.ClientConnectorCertificateError.__new__(
            aiohttp.ClientConnectorCertificateError
        )
    ) == (
        TransportError,
        "SSL_ERROR",
    )


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(KeyError), map_aiohttp_exceptions():
        raise KeyError("a bug stays a bug")


# --- MockTransport ---------------------------------------------------------------------------------------------


async def test_mock_transport_takes_sync_and_async_handlers() -> None:
    seen: list[HttpRequest] = []

    def sync_handler(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse(200, {}, b"sync")

    async def async_handler(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0)
        return HttpResponse(201, {}, b"async")

    request = HttpRequest("POST", "http://emulator/x", {}, b"{}")
    async with MockTransport(sync_handler) as transport:
        assert (await transport.send(request)).body == b"sync"
    assert seen == [request]
    assert (await MockTransport(async_handler).send(request)).status == 201


async def test_mock_transport_handlers_can_play_failures() -> None:
    def failing(request: HttpRequest) -> HttpResponse:
        raise TransportError("reset", code="CONNECTION_RESET")

    with pytest.raises(TransportError):
        await MockTransport(failing).send(HttpRequest("GET", "http://x/", {}))
