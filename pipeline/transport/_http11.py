"""Whole-body HTTP/1.1 requests over a pool of keep-alive connections: the hot path of a run, written for it.

Every row is one POST whose body is already in memory and whose reply is read whole. For that one shape,
aiohttp's `ClientSession.request` spends most of a row's CPU (URL objects, header multidicts, payload and
tracing machinery, a task per request): measured against a minimal server (benchmarks/bench_overhead.py), an
aiohttp loop costs about 180 us of CPU a row and this pool about 75. So whole-body requests take this path and
aiohttp keeps what it is good at: streamed uploads and downloads (`_aiohttp.py`).

What it does, and does not:
- HTTP/1.1 only, `http` and `https` (TLS with the system's trust store, as aiohttp's default), keep-alive.
  Responses are parsed by httptools (llhttp, Node's parser; uvicorn's too): Content-Length, chunked or
  read-until-close bodies, gzip and deflate decoded if a server sends them (none is asked for).
- No redirects, cookies, proxies or automatic retries, as the aiohttp session is configured; the one
  exception is aiohttp's own: an idempotent request whose reused connection turns out closed before any byte
  of the reply is sent again once, on a new connection.
- At most `limit` connections; a request waits for one. A connection idle for `KEEPALIVE_S` is closed rather
  than reused (servers close idle ones first, and a request sent on a closed one fails).
- Every failure becomes an `AttemptError` here, with the codes `_aiohttp.py` uses for the same failures.
  Messages name the host, never the path or query (a key could be in it).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

import httptools

from pipeline.errors import RequestRejected, TransportError
from pipeline.records import HttpResponse

KEEPALIVE_S = 15.0  # aiohttp's keepalive_timeout; Google's front ends keep idle connections longer
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_JOIN_BYTES = (
    64 * 1024
)  # up to this, head and body are joined into one write (one segment, not two)
_MAX_TARGETS = 1024  # parsed URLs kept; a run sends to a handful
# Some front ends (web application firewalls before OpenAI-compatible resellers) refuse a request without one.
USER_AGENT = "pipeline (Python; httptools)"


class _Target(NamedTuple):
    """A URL, parsed once: where to connect and the start of the request's head."""

    origin: tuple[
        str, str, int
    ]  # scheme, host, port: connections are pooled per origin
    path: str
    host_header: str


class _Lost(Exception):
    """The connection ended before the reply was whole; `started` says whether any of it had come."""

    def __init__(self, detail: str, *, started: bool, truncated: bool) -> None:
        super().__init__(detail)
        self.started = started
        self.truncated = truncated


class _Connection(asyncio.Protocol):
    """One connection, one request at a time; httptools calls the `on_*` methods while `feed_data` runs."""

    def __init__(self, origin: tuple[str, str, int]) -> None:
        self.origin = origin
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, dict[str, str], bytes]] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._started = False
        self._headers_done = False
        self._delimited = (
            False  # Content-Length or chunked: the end is known without the close
        )
        self.reusable = False
        self.lost = False
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.reusable = False
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._delimited:
            self._finish()  # a body that runs until the server closes: the close is its end
            return
        cause = f": {exc}" if exc else ""
        waiter.set_exception(
            _Lost(
                f"the server closed the connection{cause}",
                started=self._started,
                truncated=self._headers_done,
            )
        )

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.abort()  # bytes nobody asked for: this connection cannot be trusted again
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not waiter.done():
                waiter.set_exception(exc)
            self.abort()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._started = True

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "content-length" or (
            key == "transfer-encoding" and "chunked" in text.lower()
        ):
            self._delimited = True
        previous = self._headers.get(key)
        self._headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        self._headers_done = True
        status = self._parser.get_status_code()
        if status in (204, 304) or 100 <= status < 200:
            self._delimited = True  # no body at all

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self._parser.should_keep_alive()
        self._finish()

    # the pool's side
    def _finish(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            waiter.set_result((self._parser.get_status_code(), self._headers, body))
        # An idle connection keeps nothing of its last reply (a 4K image's is ~5 MB; 32 idle ones held 300 MB).
        self._waiter = None
        self._body = []

    def start(
        self, head: bytes, body: bytes | None
    ) -> asyncio.Future[tuple[int, dict[str, str], bytes]]:
        """Send one request; the future resolves to (status, headers, body) or fails with `_Lost`/a parser error."""
        assert self.transport is not None
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self._headers = {}
        self._body = []
        self._started = self._headers_done = self._delimited = False
        self.reusable = False
        if not body:
            self.transport.write(head)
        elif len(body) <= _JOIN_BYTES:
            self.transport.writelines((head, body))  # one segment for a small request
        else:
            self.transport.write(head)  # a large body is not copied to be joined
            self.transport.write(body)
        return waiter

    def time_out(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())
        self.abort()

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()


class Http11Pool:
    """Keep-alive connections per origin; `send` is one whole-body request.

    :param limit: the most requests in flight at once, so the most connections in use (the engine never has
        more); a connection a request finished with waits, idle, for the next request to its origin.
    :param connect_timeout_s: how long a TCP (and TLS) connection may take before CONNECT_ERROR.
    """

    def __init__(self, *, limit: int, connect_timeout_s: float = 30.0) -> None:
        self._limit = asyncio.Semaphore(max(1, limit))
        self._connect_timeout_s = connect_timeout_s
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._targets: dict[str, _Target] = {}
        self._ssl: ssl.SSLContext | None = None
        self._open: set[_Connection] = set()

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float | None,
    ) -> HttpResponse:
        target = self._target(url)
        head = _head(method, target, headers, body)
        started = time.perf_counter()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        async with self._limit:
            for attempt in (0, 1):
                connection, reused = await self._connection(target, deadline, timeout_s)
                try:
                    status, response_headers, payload = await self._exchange(
                        connection, head, body, deadline, timeout_s
                    )
                except _Lost as exc:
                    if (
                        reused
                        and not exc.started
                        and attempt == 0
                        and method in _IDEMPOTENT
                    ):
                        continue  # a keep-alive connection the server had closed: once more, on a new one
                    code = "TRUNCATED" if exc.truncated else "CONNECTION_RESET"
                    raise TransportError(
                        f"{code.lower().replace('_', ' ')}: {target.origin[1]}:{target.origin[2]}: {exc}",
                        code=code,
                    ) from exc
                break
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        encoding = response_headers.get("content-encoding")
        if encoding is not None and payload:
            payload = _decoded(payload, encoding, target)
        return HttpResponse(status, response_headers, payload, elapsed_ms)

    async def _exchange(
        self,
        connection: _Connection,
        head: bytes,
        body: bytes | None,
        deadline: float | None,
        timeout_s: float | None,
    ) -> tuple[int, dict[str, str], bytes]:
        loop = asyncio.get_running_loop()
        timer = None
        if deadline is not None:
            timer = loop.call_later(
                max(0.0, deadline - time.monotonic()), connection.time_out
            )
        try:
            result = await connection.start(head, body)
        except BaseException as exc:
            # Timed out, cut, unparseable or cancelled mid-exchange: a reply may still come, so never reuse it.
            self._close(connection)
            if isinstance(exc, TimeoutError):
                raise TransportError(
                    f"timeout: no complete response within {timeout_s:g} s",
                    code="TIMEOUT",
                ) from None
            if isinstance(exc, httptools.HttpParserError):
                raise TransportError(
                    f"bad response: {exc}", code="BAD_RESPONSE"
                ) from exc
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if connection.reusable and not connection.lost:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)
        else:
            self._close(connection)
        return result

    async def _connection(
        self, target: _Target, deadline: float | None, timeout_s: float | None
    ) -> tuple[_Connection, bool]:
        idle = self._idle.get(target.origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.lost and now - connection.idle_since < KEEPALIVE_S:
                return connection, True
            self._close(connection)
        return await self._connect(target, deadline, timeout_s), False

    async def _connect(
        self, target: _Target, deadline: float | None, timeout_s: float | None
    ) -> _Connection:
        scheme, host, port = target.origin
        wait = self._connect_timeout_s
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - time.monotonic()))
        loop = asyncio.get_running_loop()
        origin = target.origin
        try:
            async with asyncio.timeout(wait):
                if scheme == "https":
                    _, protocol = await loop.create_connection(
                        lambda: _Connection(origin),
                        host,
                        port,
                        ssl=self._ssl_context(),
                        server_hostname=host,
                    )
                else:
                    _, protocol = await loop.create_connection(
                        lambda: _Connection(origin), host, port
                    )
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise TransportError(
                    f"timeout: no complete response within {timeout_s:g} s (connecting to {host}:{port})",
                    code="TIMEOUT",
                ) from None
            raise TransportError(
                f"connect error: {host}:{port}: no connection within {wait:g} s",
                code="CONNECT_ERROR",
            ) from None
        except ssl.SSLError as exc:
            raise TransportError(
                f"ssl error: {host}:{port}: {exc}", code="SSL_ERROR"
            ) from exc
        except OSError as exc:
            raise TransportError(
                f"connect error: cannot connect to {host}:{port}: {exc.strerror or exc}",
                code="CONNECT_ERROR",
            ) from exc
        self._open.add(protocol)
        return protocol

    def _close(self, connection: _Connection) -> None:
        connection.abort()
        self._open.discard(connection)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            # The system's trust store; SSL_CERT_FILE / SSL_CERT_DIR are honoured.
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse_target(url)
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            self._targets[url] = target
        return target

    def close(self) -> None:
        """Close every connection (idle or not)."""
        for connection in list(self._open):
            self._close(connection)
        self._idle.clear()


def _parse_target(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RequestRejected(f"invalid url: {exc}", code="INVALID_URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise RequestRejected(
            f"invalid url: only http and https URLs with a host can be sent to (got scheme {scheme!r})",
            code="INVALID_URL",
        )
    default = 443 if scheme == "https" else 80
    port = port or default
    host = parts.hostname
    host_header = parts.netloc.rpartition("@")[2]  # no userinfo in Host
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target((scheme, host, port), path, host_header)


def _head(
    method: str, target: _Target, headers: Mapping[str, str], body: bytes | None
) -> bytes:
    """The request line and headers; a header that would break the framing is refused, not sent."""
    lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"]
    if "User-Agent" not in headers and "user-agent" not in headers:
        lines.append(f"User-Agent: {USER_AGENT}\r\n")
    for name, value in headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise RequestRejected(
                f"invalid header: {name!r} holds a line break", code="INVALID_HEADER"
            )
        lines.append(f"{name}: {value}\r\n")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body) if body else 0}\r\n")
    lines.append("\r\n")
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise RequestRejected(
            f"invalid header: a header holds a character HTTP cannot carry ({exc.reason})",
            code="INVALID_HEADER",
        ) from None


def _decoded(payload: bytes, encoding: str, target: _Target) -> bytes:
    coding = encoding.strip().lower()
    if coding in ("identity", ""):
        return payload
    try:
        if coding in ("gzip", "x-gzip"):
            return zlib.decompress(payload, 16 + zlib.MAX_WBITS)
        if coding == "deflate":
            try:
                return zlib.decompress(payload)
            except zlib.error:
                return zlib.decompress(
                    payload, -zlib.MAX_WBITS
                )  # raw deflate, as some servers send it
    except zlib.error as exc:
        raise TransportError(
            f"bad response: {target.origin[1]}: cannot decode a {coding} body: {exc}",
            code="BAD_RESPONSE",
        ) from None
    raise TransportError(
        f"bad response: {target.origin[1]}: a body in an encoding that was not asked for ({coding})",
        code="BAD_RESPONSE",
    )
