"""Streamed requests on aiohttp's client: a `FileSlice` upload read 1 MiB at a time, and a download to a file.

Imported on first use (`HttpTransport` creates `AiohttpStreams` the first time a run streams), so a run that only
sends whole bodies never pays aiohttp's ~200 ms import. One `ClientSession`, its pool sized to the run's
concurrency, a total timeout per request, no retries and no redirects. Every aiohttp exception is translated to an
`errors.AttemptError` at exactly one boundary, `map_aiohttp_exceptions()`, the way httpx's
`map_httpcore_exceptions()` does it; the lean pool (`_http11.py`) maps its own failures to the same codes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager

import aiohttp
import anyio
from aiohttp import client_exceptions

from pipeline.errors import AttemptError, RequestRejected, TransportError
from pipeline.records import FileSlice, HttpRequest, HttpResponse
from pipeline.storage import is_url, location

STREAM_CHUNK_BYTES = 1024 * 1024

__all__ = (
    "EXCEPTION_CODES",
    "AiohttpStreams",
    "map_aiohttp_exceptions",
    "mapping_for",
)


# aiohttp exception -> (our class, code). The most specific entry in the exception's MRO wins; the test suite
# checks that every aiohttp.ClientError subclass is listed, so an aiohttp upgrade cannot add an unmapped one.
# By name, because some classes are newer than the oldest aiohttp we support; absent ones are skipped.
_BY_NAME: dict[str, tuple[type[AttemptError], str]] = {
    "ClientError": (TransportError, "CLIENT_ERROR"),
    "ClientResponseError": (
        TransportError,
        "BAD_RESPONSE",
    ),  # a malformed status line or headers
    "ContentTypeError": (TransportError, "BAD_RESPONSE"),
    "WSServerHandshakeError": (TransportError, "BAD_RESPONSE"),
    "ClientHttpProxyError": (TransportError, "PROXY_ERROR"),
    "TooManyRedirects": (RequestRejected, "REDIRECT"),
    "RedirectClientError": (RequestRejected, "REDIRECT"),
    "ClientConnectionError": (TransportError, "CONNECTION_RESET"),
    "ClientConnectionResetError": (TransportError, "CONNECTION_RESET"),
    "ClientOSError": (TransportError, "CONNECTION_RESET"),
    "ClientConnectorError": (TransportError, "CONNECT_ERROR"),
    "ClientConnectorDNSError": (TransportError, "CONNECT_ERROR"),
    "ClientProxyConnectionError": (TransportError, "CONNECT_ERROR"),
    "UnixClientConnectorError": (TransportError, "CONNECT_ERROR"),
    "ClientSSLError": (TransportError, "SSL_ERROR"),
    "ClientConnectorSSLError": (TransportError, "SSL_ERROR"),
    "ClientConnectorCertificateError": (TransportError, "SSL_ERROR"),
    "ServerConnectionError": (TransportError, "CONNECTION_RESET"),
    "ServerDisconnectedError": (TransportError, "CONNECTION_RESET"),
    "ServerTimeoutError": (TransportError, "TIMEOUT"),
    "SocketTimeoutError": (TransportError, "TIMEOUT"),  # no byte for sock_read seconds
    "ConnectionTimeoutError": (
        TransportError,
        "CONNECT_ERROR",
    ),  # connect took too long
    "ServerFingerprintMismatch": (TransportError, "SSL_ERROR"),
    "ClientPayloadError": (
        TransportError,
        "TRUNCATED",
    ),  # the body ended before Content-Length
    "UploadAbortedError": (TransportError, "CONNECTION_RESET"),
    # A URL that is not http(s) or does not parse: the spec's base_url is wrong; retrying cannot help.
    "InvalidURL": (RequestRejected, "INVALID_URL"),
    "InvalidUrlClientError": (RequestRejected, "INVALID_URL"),
    "InvalidUrlRedirectClientError": (RequestRejected, "REDIRECT"),
    "NonHttpUrlClientError": (RequestRejected, "INVALID_URL"),
    "NonHttpUrlRedirectClientError": (RequestRejected, "REDIRECT"),
}
EXCEPTION_CODES: dict[type[BaseException], tuple[type[AttemptError], str]] = {
    TimeoutError: (
        TransportError,
        "TIMEOUT",
    ),  # the total timeout (asyncio.TimeoutError is TimeoutError)
    ConnectionError: (TransportError, "CONNECTION_RESET"),
    **{
        getattr(client_exceptions, name): target
        for name, target in _BY_NAME.items()
        if hasattr(client_exceptions, name)
    },
}


def mapping_for(exc: BaseException) -> tuple[type[AttemptError], str]:
    for cls in type(exc).__mro__:
        found = EXCEPTION_CODES.get(cls)
        if found is not None:
            return found
    return TransportError, "CLIENT_ERROR"


@contextmanager
def map_aiohttp_exceptions(timeout_s: float | None = None) -> Iterator[None]:
    """Re-raise aiohttp's exceptions (and bare timeouts and connection errors) as `AttemptError`s."""
    try:
        yield
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        target, code = mapping_for(exc)
        detail = str(exc) or type(exc).__name__
        if code == "TIMEOUT" and timeout_s is not None:
            detail = f"no complete response within {timeout_s:g} s ({detail})"
        raise target(f"{code.lower().replace('_', ' ')}: {detail}", code=code) from exc


class AiohttpStreams:
    """One `aiohttp.ClientSession` for the streamed requests of a run.

    :param concurrency: the connection pool's size; the engine never has more requests in flight.
    :param connect_timeout_s: how long to wait for a TCP (and TLS) connection before CONNECT_ERROR.
    """

    def __init__(self, *, concurrency: int, connect_timeout_s: float) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(1, concurrency), limit_per_host=0),
            timeout=self._timeout(None),
            cookie_jar=aiohttp.DummyCookieJar(),  # an API client has no use for cookies
            raise_for_status=False,
        )

    async def aclose(self) -> None:
        await self._session.close()

    def _timeout(self, total_s: float | None) -> aiohttp.ClientTimeout:
        """One ClientTimeout per distinct value, built once: requests share their timeout."""
        timeout = self._timeouts.get(total_s)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=total_s, sock_connect=self._connect_timeout_s
            )
            self._timeouts[total_s] = timeout
        return timeout

    async def upload(self, request: HttpRequest, body: FileSlice) -> HttpResponse:
        """`request` with `body` streamed from its file (or bucket), with its Content-Length: never chunked."""
        await _check_slice(body)
        headers = {**request.headers, "Content-Length": str(body.length)}
        started = time.perf_counter()
        with map_aiohttp_exceptions(request.timeout_s):
            async with self._session.request(
                request.method,
                request.url,
                headers=headers,
                data=_read_slice(body),
                timeout=self._timeout(request.timeout_s),
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                status = response.status
                response_headers = _lower_case(response.headers)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return HttpResponse(status, response_headers, payload, elapsed_ms)

    async def download(self, request: HttpRequest, path: str) -> HttpResponse:
        """A 2xx body streamed to `path` 1 MiB at a time: memory stays flat whatever its size."""
        started = time.perf_counter()
        with map_aiohttp_exceptions(request.timeout_s):
            async with self._session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body if isinstance(request.body, bytes) else None,
                timeout=self._timeout(request.timeout_s),
                allow_redirects=False,
            ) as response:
                status = response.status
                response_headers = _lower_case(response.headers)
                payload = b""
                if 200 <= status < 300:
                    async with await anyio.open_file(path, "wb") as file:
                        async for chunk in response.content.iter_chunked(
                            STREAM_CHUNK_BYTES
                        ):
                            await file.write(chunk)
                else:
                    payload = await response.read()
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return HttpResponse(status, response_headers, payload, elapsed_ms)


async def _check_slice(piece: FileSlice) -> None:
    try:
        if is_url(
            piece.path
        ):  # media under a remote media_dir: streamed from the bucket
            size = (await anyio.to_thread.run_sync(location(piece.path).info)).size
        else:
            size = (await anyio.Path(piece.path).stat()).st_size
    except OSError as exc:
        raise RequestRejected(
            f"cannot read {piece.path}: {exc.strerror or exc}", code="FILE_UNREADABLE"
        ) from None
    if piece.offset + piece.length > size:
        raise RequestRejected(
            f"{piece.path} has {size} bytes, fewer than the {piece.offset + piece.length} to send; did it change?",
            code="FILE_UNREADABLE",
        )


async def _read_slice(piece: FileSlice) -> AsyncIterator[bytes]:
    """The slice's bytes, 1 MiB at a time, read in a worker thread: memory stays flat whatever the file's size."""
    if is_url(piece.path):
        remote = await anyio.to_thread.run_sync(location(piece.path).open_input)
        opened = anyio.wrap_file(remote)
    else:
        opened = await anyio.open_file(piece.path, "rb")
    async with opened as file:
        await file.seek(piece.offset)
        remaining = piece.length
        while remaining > 0:
            chunk = await file.read(min(STREAM_CHUNK_BYTES, remaining))
            if not chunk:
                raise ConnectionError(
                    f"{piece.path} ended {remaining} bytes early while it was being sent"
                )
            remaining -= len(chunk)
            yield chunk


def _lower_case(headers: Mapping[str, str]) -> dict[str, str]:
    """Names lower-cased and repeats joined with ", ", as the pool (`_http11.py`) hands them over."""
    joined: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        previous = joined.get(key)
        joined[key] = value if previous is None else f"{previous}, {value}"
    return joined
