"""Whole-body requests (the lean HTTP/1.1 pool behind `HttpTransport.send`) against servers that frame their
replies every way HTTP allows, close connections under it, time out, and speak TLS."""

from __future__ import annotations

import asyncio
import gc
import gzip
import hashlib
import json
import ssl
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Self

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.errors import RequestRejected, TransportError
from pipeline.records import HttpRequest
from pipeline.transport import HttpTransport

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection is handled by `reply`; counts connections."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1beta/models/m:generateContent?alt=json"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            await self.reply(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def read_request(
    reader: asyncio.StreamReader,
) -> tuple[bytes, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for text in lines:
        if text:
            name, _, value = text.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return line.encode(), headers, body


def answer(raw: bytes, *, serve: str = "one") -> Reply:
    """A handler that reads a request and writes `raw`: for one request ("one"), for every request on the
    connection ("all"), or for one and then closes without saying so ("close")."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(raw)
            await writer.drain()
            if serve == "close":
                writer.close()
            if serve != "all":
                return

    return reply


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def post(
    url: str, body: bytes = b'{"a":1}', timeout_s: float | None = 5.0
) -> HttpRequest:
    return HttpRequest(
        "POST",
        url,
        {"x-goog-api-key": "k", "Content-Type": "application/json"},
        body,
        timeout_s,
    )


async def test_the_request_on_the_wire() -> None:
    seen: list[tuple[bytes, dict[str, str], bytes]] = []

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        response = await transport.send(post(server.url))
    line, headers, body = seen[0]
    assert line == b"POST /v1beta/models/m:generateContent?alt=json HTTP/1.1"
    assert headers["host"] == server.url.split("/")[2]
    assert headers["x-goog-api-key"] == "k"
    assert headers["user-agent"].startswith("pipeline")
    assert headers["content-length"] == "7"
    assert body == b'{"a":1}'
    assert (response.status, response.body) == (200, b"ok")


@pytest.mark.parametrize(
    "framing",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world",  # until the close
        b"HTTP/1.0 200 OK\r\n\r\nhello world",
    ],
    ids=["content-length", "chunked", "until-close", "http/1.0"],
)
async def test_every_framing_gives_the_whole_body(framing: bytes) -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for start in range(
            0, len(framing), 7
        ):  # in small pieces: the parser must stitch them
            writer.write(framing[start : start + 7])
            await writer.drain()
            await asyncio.sleep(0)

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        response = await transport.send(post(server.url))
    assert response.body == b"hello world"


async def test_headers_are_looked_up_by_lower_case_name_and_repeats_are_joined() -> (
    None
):
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 0\r\n\r\n"
        )
        await writer.drain()

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        response = await transport.send(post(server.url))
    assert response.status == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["x-a"] == "1, 2"
    assert response.body == b""


async def test_keep_alive_reuses_one_connection() -> None:
    async with (
        RawServer(answer(OK, serve="all")) as server,
        HttpTransport(concurrency=1) as transport,
    ):
        for _ in range(20):
            assert (await transport.send(post(server.url))).body == b"ok"
    assert server.connections == 1


async def test_connection_close_is_honoured() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with (
        RawServer(answer(closing)) as server,
        HttpTransport(concurrency=1) as transport,
    ):
        for _ in range(3):
            assert (await transport.send(post(server.url))).body == b"ok"
    assert server.connections == 3


async def test_a_get_on_a_connection_the_server_closed_is_sent_again_once() -> None:
    """The server closes each connection after one reply without saying so: the next GET finds it closed,
    before any byte of a reply, and goes out again on a new connection (aiohttp does the same)."""

    async with (
        RawServer(answer(OK, serve="close")) as server,
        HttpTransport(concurrency=1) as transport,
    ):
        get = HttpRequest("GET", server.url, {}, timeout_s=5)
        assert (await transport.send(get)).body == b"ok"
        await asyncio.sleep(0.05)  # the close arrives while the connection is idle
        assert (await transport.send(get)).body == b"ok"
    assert server.connections == 2


async def test_a_post_cut_before_its_reply_is_a_retryable_reset_not_sent_twice() -> (
    None
):
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.transport.abort()

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(post(server.url))
    assert caught.value.code == "CONNECTION_RESET"
    assert caught.value.retryable
    assert server.connections == 1
    assert "generateContent" not in str(
        caught.value
    )  # the host, never the path or query


async def test_a_body_cut_short_is_truncated() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{"candidates": [')
        await writer.drain()

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(post(server.url))
    assert caught.value.code == "TRUNCATED"


async def test_a_reply_that_is_not_http_is_a_bad_response() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(post(server.url))
    assert caught.value.code == "BAD_RESPONSE"


async def test_the_timeout_covers_the_whole_exchange_and_the_connection_is_not_reused() -> (
    None
):
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nslow"
        )  # the rest never comes
        await writer.drain()
        await asyncio.sleep(5)

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(post(server.url, timeout_s=0.2))
        assert caught.value.code == "TIMEOUT"
        assert "0.2 s" in str(caught.value)
        with pytest.raises(TransportError):
            await transport.send(post(server.url, timeout_s=0.2))
    assert server.connections == 2


async def test_a_cancelled_request_leaves_no_connection_behind() -> None:
    replied = asyncio.Event()

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, _, body = await read_request(reader)
            if body == b"slow":
                await asyncio.sleep(0.3)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()
            replied.set()

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        task = asyncio.create_task(transport.send(post(server.url, b"slow")))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the late reply to the cancelled request must not be read as the next request's
        response = await transport.send(post(server.url, b"fast"))
    assert response.body == b"fast"
    assert server.connections == 2


async def test_the_pool_holds_at_most_its_limit_of_connections() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.01)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async with RawServer(reply) as server, HttpTransport(concurrency=3) as transport:
        responses = await asyncio.gather(
            *(transport.send(post(server.url)) for _ in range(30))
        )
    assert all(r.body == b"ok" for r in responses)
    assert server.connections == 3


@pytest.mark.parametrize("header", [{"x-a": "1\r\nx-b: 2"}, {"x-a": "caf\u00e9\u2603"}])
async def test_a_header_that_would_break_the_framing_is_refused_unsent(
    header: dict[str, str],
) -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise AssertionError("nothing may be sent")

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        with pytest.raises(RequestRejected) as caught:
            await transport.send(HttpRequest("POST", server.url, header, b"x"))
    assert caught.value.code == "INVALID_HEADER"
    assert server.connections == 0


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
async def test_a_compressed_reply_is_decoded(
    encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    payload = json.dumps({"text": "x" * 5000}).encode()

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = encode(payload)
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        response = await transport.send(post(server.url))
    assert response.body == payload


@pytest.fixture
async def tls_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """An aiohttp server on https://localhost with a certificate from a CA that SSL_CERT_FILE trusts."""
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost", "127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"got": (await request.read()).decode()})

    app = web.Application()
    app.router.add_post("/echo", answer)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server(ssl=server_context)
    yield f"https://localhost:{server.port}/echo"
    await server.close()


async def test_https_with_a_trusted_certificate(tls_server: str) -> None:
    async with HttpTransport(concurrency=2) as transport:
        responses = [await transport.send(post(tls_server)) for _ in range(3)]
    assert [json.loads(r.body) for r in responses] == [{"got": '{"a":1}'}] * 3


async def test_https_with_an_untrusted_certificate_is_an_ssl_error(
    tls_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent")
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")
    async with HttpTransport(concurrency=1) as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(post(tls_server))
    assert caught.value.code == "SSL_ERROR"


async def test_a_large_body_arrives_whole() -> None:
    payload = (
        bytes(range(256)) * 8192
    )  # 2 MiB: written apart from the head, not joined to it

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        *_, body = await read_request(reader)
        digest = hashlib.sha256(body).hexdigest().encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n" + digest)
        await writer.drain()

    async with RawServer(reply) as server, HttpTransport(concurrency=1) as transport:
        response = await transport.send(post(server.url, payload))
    assert response.body == hashlib.sha256(payload).hexdigest().encode()


async def test_an_idle_connection_keeps_nothing_of_its_last_reply() -> None:
    """32 idle connections that each kept a 5 MB image reply held 300 MB of a 4K-image run."""
    reply_body = b"x" * (4 * 1024 * 1024)

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(reply_body)
                + reply_body
            )
            await writer.drain()

    async with RawServer(reply) as server, HttpTransport(concurrency=4) as transport:
        tracemalloc.start()
        try:

            async def size() -> int:
                return len((await transport.send(post(server.url))).body)

            sizes = await asyncio.gather(*(size() for _ in range(4)))
            assert sizes == [len(reply_body)] * 4
            gc.collect()
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert held < 1024 * 1024
