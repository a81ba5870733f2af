"""The transport's door: `HttpTransport` sends `HttpRequest`s and returns `HttpResponse`s, or raises `AttemptError`.

A request whose body is in memory (every row's generateContent, and the small calls around files, caches and
batches) goes to `Http11Pool` (`_http11.py`): written for that one shape, it spends well under half of aiohttp's
CPU a request (benchmarks/bench_overhead.py). A `FileSlice` upload and `download()` to a file stream through
aiohttp (`_aiohttp.py`), imported and started only when a run first needs it. Response headers are looked up by
lower-case name. `MockTransport` ships with the package for tests (httpx's `_transports/mock.py`).

Usage::

    async with HttpTransport(concurrency=64) as transport:
        response = await transport.send(request)      # HttpResponse, or raises AttemptError
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

import anyio

from pipeline.records import FileSlice, HttpRequest, HttpResponse

from ._http11 import Http11Pool

if TYPE_CHECKING:
    from ._aiohttp import AiohttpStreams

__all__ = (
    "Downloader",
    "HttpTransport",
    "MockTransport",
    "Transport",
)


class Transport(Protocol):
    """Sends one request and returns the whole response; raises `AttemptError` when no response came."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...


class Downloader(Protocol):
    """Streams a response body to a file instead of memory (batch result files can be gigabytes)."""

    async def download(self, request: HttpRequest, path: str) -> HttpResponse:
        """A 2xx body goes to `path` (created or truncated) and the response's `body` is empty; any other
        status leaves `path` alone and returns its (small) body as `send` does."""
        ...


class HttpTransport:
    """The real transport: the lean pool for whole bodies, aiohttp (started on first use) for streams.

    :param concurrency: each pool's size; the engine never has more requests in flight.
    :param connect_timeout_s: how long to wait for a TCP (and TLS) connection before CONNECT_ERROR.
    """

    def __init__(self, *, concurrency: int, connect_timeout_s: float = 30.0) -> None:
        self._concurrency = max(1, concurrency)
        self._connect_timeout_s = connect_timeout_s
        self._pool = Http11Pool(
            limit=self._concurrency, connect_timeout_s=connect_timeout_s
        )
        self._streams: AiohttpStreams | None = None
        self._entered = False

    async def __aenter__(self) -> Self:
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._entered = False
        self._pool.close()
        if self._streams is not None:
            streams, self._streams = self._streams, None
            await streams.aclose()

    def _check_entered(self, method: str) -> None:
        if not self._entered:
            raise RuntimeError(
                f"HttpTransport.{method}() needs `async with HttpTransport(...)` around it"
            )

    def _aiohttp(self) -> AiohttpStreams:
        if self._streams is None:
            from ._aiohttp import (
                AiohttpStreams,
            )  # ~200 ms of import that a run of whole bodies never needs

            self._streams = AiohttpStreams(
                concurrency=self._concurrency, connect_timeout_s=self._connect_timeout_s
            )
        return self._streams

    async def send(self, request: HttpRequest) -> HttpResponse:
        self._check_entered("send")
        body = request.body
        if isinstance(body, FileSlice):
            return await self._aiohttp().upload(request, body)
        return await self._pool.send(
            request.method, request.url, request.headers, body, request.timeout_s
        )

    async def download(self, request: HttpRequest, path: str) -> HttpResponse:
        """`send`, with a 2xx body streamed to `path` 1 MiB at a time: memory stays flat whatever its size."""
        self._check_entered("download")
        return await self._aiohttp().download(request, path)


Handler = Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]


class MockTransport:
    """A transport that calls `handler(request)` (sync or async) instead of the network; for tests.

    The handler returns an `HttpResponse` or raises an `AttemptError` to play a network failure.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def send(self, request: HttpRequest) -> HttpResponse:
        result = self._handler(request)
        if inspect.isawaitable(result):
            return await result
        return result

    async def download(self, request: HttpRequest, path: str) -> HttpResponse:
        """The handler's response, its 2xx body written to `path` (as the real transport streams it)."""
        response = await self.send(request)
        if not 200 <= response.status < 300:
            return response
        await anyio.Path(path).write_bytes(response.body)
        return HttpResponse(response.status, response.headers, b"", response.elapsed_ms)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
