"""The seam between the engine and a provider's wire format.

A provider is a pure translator, like httpcore's protocol layer over an injected stream: `build*` turns records
into an `HttpRequest`, `parse*` turns an `HttpResponse` into records or raises. Neither does I/O, so every
provider is tested with literal JSON and no network; the engine hands requests to a `transport.Transport`.

`parse` contract: a 2xx that parses gives a `Reply` whose status is `ok`, `blocked` (a safety filter) or
`failed` (a reply that retrying cannot fix, e.g. MAX_TOKENS with nothing in it). Anything else raises an
`errors.AttemptError` subclass (`RateLimited` with `retry_after`, `ServerError`, `TransportError` for 408,
`RequestRejected`, `ReplyInvalid` with `.usage` when a billed reply is unusable) or `errors.CredentialsError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pipeline.records import (
    FileSlice,
    HttpRequest,
    HttpResponse,
    Prompt,
    Reply,
    UploadedFile,
)

from ._batch import BatchLine, RemoteBatch, parse_line
from ._caches import CachedContent
from ._credentials import Credentials
from ._errors_map import Call, error_for

__all__ = ("UPLOAD_CHUNK_BYTES", "Provider", "ProviderBase", "upload_chunks")

# The Files API takes resumable uploads in chunks of this size (a multiple of 256 KiB, as the protocol wants).
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024


class Provider(Protocol):
    """One wire format. Build a request per attempt; the same `Prompt` always gives the same body bytes."""

    kind: str  # "gemini" | "vertex" | "openai"
    model: str
    supports_files: bool  # the Files API is available (gemini only)
    supports_count_tokens: bool
    supports_caching: bool  # explicit context caches (gemini, vertex)

    def build(
        self, prompt: Prompt, *, timeout_s: float | None = None
    ) -> HttpRequest: ...

    def parse(self, response: HttpResponse, prompt: Prompt) -> Reply: ...

    def build_count_tokens(self, prompt: Prompt) -> HttpRequest:
        """:raises NotImplementedError: when `supports_count_tokens` is False."""
        ...

    def parse_count_tokens(self, response: HttpResponse) -> int: ...

    # Files API. A resumable upload: start, then chunks of UPLOAD_CHUNK_BYTES sent as FileSlice bodies (the
    # transport streams them from disk), the last one with final=True. All raise NotImplementedError when
    # `supports_files` is False.
    def build_upload_start(
        self, *, size: int, mime_type: str, display_name: str
    ) -> HttpRequest: ...

    def parse_upload_start(self, response: HttpResponse) -> str:
        """The upload URL the chunks go to."""
        ...

    def build_upload_chunk(
        self, upload_url: str, chunk: FileSlice, *, final: bool
    ) -> HttpRequest: ...

    def parse_upload_chunk(self, response: HttpResponse) -> UploadedFile | None:
        """None until the server has the whole file; then the File resource (poll it until ACTIVE)."""
        ...

    def build_get_file(self, name: str) -> HttpRequest: ...

    def parse_file(self, response: HttpResponse) -> UploadedFile: ...

    def build_delete_file(self, name: str) -> HttpRequest: ...

    # Explicit context caches (`[cache]`); NotImplementedError when `supports_caching` is False. `prefix` holds
    # what the cache keeps: the shared files as parts, the system instruction and the generation's tools.
    def build_create_cache(
        self, prefix: Prompt, *, ttl_s: float, display_name: str
    ) -> HttpRequest: ...

    def build_get_cache(self, name: str) -> HttpRequest: ...

    def build_update_cache(self, name: str, *, ttl_s: float) -> HttpRequest: ...

    def build_delete_cache(self, name: str) -> HttpRequest: ...

    def parse_cache(self, response: HttpResponse) -> CachedContent:
        """The cache resource of a create, get or update reply; raises `CacheGone` for a cache that is gone."""
        ...

    # The provider's own model list (`pipeline models`); NotImplementedError where there is none (Vertex).
    def build_list_models(self, page_token: str | None = None) -> HttpRequest: ...

    def parse_list_models(self, response: HttpResponse) -> tuple[list[str], str | None]:
        """The model ids on this page (without a "models/" prefix) and the next page's token, if any."""
        ...

    # The Batch API (`mode = "batch"`, `_batch.py`); NotImplementedError where `supports_batch` is False. The
    # input file is uploaded with the Files API's resumable upload when `supports_files`, else in one request
    # (`build_batch_file_upload`) whose multipart head and tail (`batch_file_frame`) are written around the
    # lines in the file on disk.
    supports_batch: bool
    batch_max_rows: int | None  # the provider's own limit of requests per job, if any

    def build_batch_line(self, prompt: Prompt) -> bytes:
        """One input line, keyed by `prompt.row_id`, whose request is exactly what `build` sends online."""
        ...

    def batch_file_frame(self, display_name: str) -> tuple[bytes, bytes]: ...

    def build_batch_file_upload(
        self, body: FileSlice, display_name: str
    ) -> HttpRequest: ...

    def parse_batch_file_upload(self, response: HttpResponse) -> str:
        """The uploaded input file's name, as `build_batch_create` takes it."""
        ...

    def build_batch_create(self, *, input_file: str, display_name: str) -> HttpRequest:
        """Create a job (NOT idempotent: the same request twice makes two jobs)."""
        ...

    def parse_batch(self, response: HttpResponse) -> RemoteBatch: ...

    def build_batch_get(self, name: str) -> HttpRequest: ...

    def build_batch_list(self, page_token: str | None = None) -> HttpRequest: ...

    def parse_batch_list(
        self, response: HttpResponse
    ) -> tuple[list[RemoteBatch], str | None]:
        """The jobs on this page, newest first, and the next page's token, if any."""
        ...

    def build_batch_cancel(self, name: str) -> HttpRequest: ...

    def check_batch_reply(self, response: HttpResponse) -> None:
        """Raise the error of a non-2xx reply to a batch call (cancel, download); nothing for a 2xx."""
        ...

    def build_batch_download(self, file_name: str) -> HttpRequest:
        """GET a result file (its body is streamed to disk by the transport)."""
        ...

    def build_batch_delete_input(self, file_name: str) -> HttpRequest: ...

    def parse_batch_line(self, raw: bytes) -> BatchLine: ...

    def parse_batch_reply(self, line: BatchLine, prompt: Prompt) -> Reply:
        """A result line's reply, judged as `parse` judges an online reply; raises the `AttemptError` an
        online request would have got for an error line."""
        ...


def upload_chunks(
    path: str, size: int, chunk_bytes: int = UPLOAD_CHUNK_BYTES
) -> list[tuple[FileSlice, bool]]:
    """The (slice, final) pairs that upload the first `size` bytes of `path`; an empty file is one empty chunk."""
    if size <= 0:
        return [(FileSlice(path, 0, 0), True)]
    offsets = range(0, size, chunk_bytes)
    return [
        (
            FileSlice(path, start, min(chunk_bytes, size - start)),
            start + chunk_bytes >= size,
        )
        for start in offsets
    ]


class ProviderBase:
    """What every provider shares: auth headers from the credentials, the error mapping, and refusals for the
    optional operations (count tokens, Files API) that a subclass does not support."""

    kind = "base"
    supports_files = False
    supports_count_tokens = False
    supports_caching = False
    supports_batch = False
    batch_max_rows: int | None = None

    def __init__(
        self,
        *,
        model: str,
        credentials: Credentials,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.model = model
        self.credentials = credentials
        self._extra = dict(extra_headers or {})
        self._auth_seen: Mapping[str, str] | None = None
        self._json_headers: Mapping[str, str] = {}
        self._bare_headers: Mapping[str, str] = {}

    def _headers(self, *, json_body: bool = True) -> Mapping[str, str]:
        """The request headers. Rebuilt only when the credentials hand out a new mapping (a refreshed token),
        not per request: this runs thousands of times a second."""
        auth = self.credentials.headers()
        if auth is not self._auth_seen:
            self._bare_headers = {**self._extra, **auth}
            self._json_headers = {
                "content-type": "application/json",
                **self._bare_headers,
            }
            self._auth_seen = auth
        return self._json_headers if json_body else self._bare_headers

    def _raise_for_status(
        self, response: HttpResponse, call: Call = "generate"
    ) -> None:
        if not 200 <= response.status < 300:
            secrets = [
                value.removeprefix("Bearer ")
                for value in self.credentials.headers().values()
            ]
            raise error_for(
                response,
                credentials_hint=self.credentials.hint(),
                secrets=secrets,
                call=call,
            )

    def _unsupported(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"the {self.kind} provider has no {what}")

    def build_count_tokens(self, prompt: Prompt) -> HttpRequest:
        raise self._unsupported("countTokens endpoint")

    def parse_count_tokens(self, response: HttpResponse) -> int:
        raise self._unsupported("countTokens endpoint")

    def build_upload_start(
        self, *, size: int, mime_type: str, display_name: str
    ) -> HttpRequest:
        raise self._unsupported("Files API; send media inline")

    def parse_upload_start(self, response: HttpResponse) -> str:
        raise self._unsupported("Files API; send media inline")

    def build_upload_chunk(
        self, upload_url: str, chunk: FileSlice, *, final: bool
    ) -> HttpRequest:
        raise self._unsupported("Files API; send media inline")

    def parse_upload_chunk(self, response: HttpResponse) -> UploadedFile | None:
        raise self._unsupported("Files API; send media inline")

    def build_get_file(self, name: str) -> HttpRequest:
        raise self._unsupported("Files API; send media inline")

    def parse_file(self, response: HttpResponse) -> UploadedFile:
        raise self._unsupported("Files API; send media inline")

    def build_delete_file(self, name: str) -> HttpRequest:
        raise self._unsupported("Files API; send media inline")

    def build_create_cache(
        self, prefix: Prompt, *, ttl_s: float, display_name: str
    ) -> HttpRequest:
        raise self._unsupported("explicit context caching")

    def build_get_cache(self, name: str) -> HttpRequest:
        raise self._unsupported("explicit context caching")

    def build_update_cache(self, name: str, *, ttl_s: float) -> HttpRequest:
        raise self._unsupported("explicit context caching")

    def build_delete_cache(self, name: str) -> HttpRequest:
        raise self._unsupported("explicit context caching")

    def parse_cache(self, response: HttpResponse) -> CachedContent:
        raise self._unsupported("explicit context caching")

    def build_list_models(self, page_token: str | None = None) -> HttpRequest:
        raise self._unsupported("model list here")

    def parse_list_models(self, response: HttpResponse) -> tuple[list[str], str | None]:
        raise self._unsupported("model list here")

    def build_batch_line(self, prompt: Prompt) -> bytes:
        raise self._unsupported("Batch API")

    def batch_file_frame(self, display_name: str) -> tuple[bytes, bytes]:
        return b"", b""

    def build_batch_file_upload(
        self, body: FileSlice, display_name: str
    ) -> HttpRequest:
        raise self._unsupported("single-request batch file upload")

    def parse_batch_file_upload(self, response: HttpResponse) -> str:
        raise self._unsupported("single-request batch file upload")

    def build_batch_create(self, *, input_file: str, display_name: str) -> HttpRequest:
        raise self._unsupported("Batch API")

    def parse_batch(self, response: HttpResponse) -> RemoteBatch:
        raise self._unsupported("Batch API")

    def build_batch_get(self, name: str) -> HttpRequest:
        raise self._unsupported("Batch API")

    def build_batch_list(self, page_token: str | None = None) -> HttpRequest:
        raise self._unsupported("Batch API")

    def parse_batch_list(
        self, response: HttpResponse
    ) -> tuple[list[RemoteBatch], str | None]:
        raise self._unsupported("Batch API")

    def build_batch_cancel(self, name: str) -> HttpRequest:
        raise self._unsupported("Batch API")

    def check_batch_reply(self, response: HttpResponse) -> None:
        self._raise_for_status(response, "batch")

    def build_batch_download(self, file_name: str) -> HttpRequest:
        raise self._unsupported("Batch API")

    def build_batch_delete_input(self, file_name: str) -> HttpRequest:
        raise self._unsupported("Batch API")

    def parse_batch_line(self, raw: bytes) -> BatchLine:
        return parse_line(raw)

    def parse_batch_reply(self, line: BatchLine, prompt: Prompt) -> Reply:
        raise self._unsupported("Batch API")

    def _batch_error(self, line: BatchLine) -> Exception:
        """The error of a failed result line, through the same table as an online error reply."""
        secrets = [
            value.removeprefix("Bearer ")
            for value in self.credentials.headers().values()
        ]
        return error_for(
            line.error_response(),
            credentials_hint=self.credentials.hint(),
            secrets=secrets,
        )
