"""Gemini API (AI Studio) over REST: generateContent, countTokens and the Files API.

The body and reply format live in `gemini_wire.py`, shared with Vertex; this module adds what is specific to
AI Studio: its URLs, the `x-goog-api-key` header, and the resumable Files API (reference section 8).

Usage::

    provider = GeminiProvider(model="gemini-3.1-pro-preview", credentials=creds)
    request = provider.build(prompt, timeout_s=600)       # HttpRequest, no I/O
    reply = provider.parse(await transport.send(request), prompt)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pipeline.errors import ReplyInvalid
from pipeline.records import (
    FileSlice,
    HttpRequest,
    HttpResponse,
    Prompt,
    Reply,
    UploadedFile,
)

from . import _gemini_wire as wire
from ._base import ProviderBase
from ._batch import BatchLine, RemoteBatch, gemini_batch, gemini_line
from ._caches import CachedContent, cache_body, cache_from, ttl_text
from ._credentials import Credentials
from ._schema import decode_reply_body, to_int

__all__ = ("DEFAULT_BASE_URL", "GeminiProvider", "GoogleBase", "file_from")

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


class GoogleBase(ProviderBase):
    """What AI Studio and Vertex share: the generateContent body, the reply parser and countTokens replies."""

    kind = "gemini"
    supports_count_tokens = True

    def __init__(
        self,
        *,
        model: str,
        credentials: Credentials,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            model=model.removeprefix("models/"),
            credentials=credentials,
            extra_headers=extra_headers,
        )

    def _model_of(self, prompt: Prompt) -> str:
        return prompt.model.removeprefix("models/") if prompt.model else self.model

    def _generate_url(self, model: str) -> str:
        raise NotImplementedError

    def build(self, prompt: Prompt, *, timeout_s: float | None = None) -> HttpRequest:
        body = wire.generate_body(prompt)
        tier = wire.requested_tier(prompt.generation)
        if tier is not None and self.tier_in_body:
            body["serviceTier"] = tier  # top level, as google-genai sends it
        return HttpRequest(
            "POST",
            self._generate_url(self._model_of(prompt)),
            self._headers() if tier is None else self._tier_headers(tier, timeout_s),
            wire.encode(body),
            timeout_s,
        )

    tier_in_body = (
        True  # the Gemini API takes `serviceTier` in the body; Vertex takes a header
    )

    def _tier_headers(self, tier: str, timeout_s: float | None) -> dict[str, str]:
        """The headers of a request asked at `tier`: Flex tells the server how long the client waits
        (`X-Server-Timeout`, whole seconds, as google-genai sends it; the server's default is 600 s)."""
        headers = dict(self._headers())
        if tier == "flex" and timeout_s is not None:
            headers["X-Server-Timeout"] = str(math.ceil(timeout_s))
        return headers

    # -- explicit context caches ------------------------------------------------------------------------------

    supports_caching = True

    def _caches_url(self) -> str:
        raise NotImplementedError

    def _cache_url(self, name: str) -> str:
        raise NotImplementedError

    def _cache_model(self, model: str) -> str:
        return f"models/{model}"

    def build_create_cache(
        self, prefix: Prompt, *, ttl_s: float, display_name: str
    ) -> HttpRequest:
        body = cache_body(
            prefix,
            model=self._cache_model(self._model_of(prefix)),
            ttl_s=ttl_s,
            display_name=display_name,
        )
        return HttpRequest(
            "POST", self._caches_url(), self._headers(), wire.encode(body)
        )

    def build_get_cache(self, name: str) -> HttpRequest:
        return HttpRequest("GET", self._cache_url(name), self._headers(json_body=False))

    def build_update_cache(self, name: str, *, ttl_s: float) -> HttpRequest:
        body = wire.encode({"ttl": ttl_text(ttl_s)})
        return HttpRequest("PATCH", self._cache_url(name), self._headers(), body)

    def build_delete_cache(self, name: str) -> HttpRequest:
        return HttpRequest(
            "DELETE", self._cache_url(name), self._headers(json_body=False)
        )

    def parse_cache(self, response: HttpResponse) -> CachedContent:
        self._raise_for_status(response, "cache")
        return cache_from(response.body)

    def parse(self, response: HttpResponse, prompt: Prompt) -> Reply:
        self._raise_for_status(response)
        return wire.parse_reply(
            response.body,
            prompt,
            tier_header=response.headers.get("x-gemini-service-tier"),
        )

    def parse_count_tokens(self, response: HttpResponse) -> int:
        self._raise_for_status(response)
        return wire.count_tokens_total(response.body)


class GeminiProvider(GoogleBase):
    """Google AI Studio: `{base_url}/v1beta/models/{model}:generateContent` with `x-goog-api-key`."""

    kind = "gemini"
    supports_files = True
    supports_count_tokens = True
    supports_batch = True

    def __init__(
        self, *, model: str, credentials: Credentials, base_url: str | None = None
    ) -> None:
        super().__init__(model=model, credentials=credentials)
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._urls: dict[str, str] = {}

    def _generate_url(self, model: str) -> str:
        url = self._urls.get(model)
        if url is None:
            url = self._urls[model] = (
                f"{self.base_url}/v1beta/models/{model}:generateContent"
            )
        return url

    def _caches_url(self) -> str:
        return f"{self.base_url}/v1beta/cachedContents"

    def _cache_url(self, name: str) -> str:
        """`name` is "cachedContents/ID" (or the bare ID)."""
        return f"{self.base_url}/v1beta/cachedContents/{name.rsplit('/', 1)[-1]}"

    def build_count_tokens(self, prompt: Prompt) -> HttpRequest:
        model = self._model_of(prompt)
        body = wire.encode(
            {
                "generateContentRequest": {
                    "model": f"models/{model}",
                    **wire.generate_body(prompt),
                }
            }
        )
        return HttpRequest(
            "POST",
            f"{self.base_url}/v1beta/models/{model}:countTokens",
            self._headers(),
            body,
        )

    def build_upload_start(
        self, *, size: int, mime_type: str, display_name: str
    ) -> HttpRequest:
        headers = {
            **self._headers(),
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": str(size),
            "x-goog-upload-header-content-type": mime_type,
        }
        body = wire.encode({"file": {"displayName": display_name}})
        return HttpRequest(
            "POST", f"{self.base_url}/upload/v1beta/files", headers, body
        )

    def parse_upload_start(self, response: HttpResponse) -> str:
        self._raise_for_status(response, "files")
        url = response.headers.get("x-goog-upload-url")
        if not url:
            raise ReplyInvalid(
                "the upload start reply has no X-Goog-Upload-URL header",
                code="NO_UPLOAD_URL",
            )
        return url

    def build_upload_chunk(
        self, upload_url: str, chunk: FileSlice, *, final: bool
    ) -> HttpRequest:
        """One chunk; `chunk.offset` is the offset in the upload too (uploads start at the file's first byte)."""
        headers = {
            **self._headers(json_body=False),
            "x-goog-upload-command": "upload, finalize" if final else "upload",
            "x-goog-upload-offset": str(chunk.offset),
        }
        return HttpRequest("POST", upload_url, headers, chunk)

    def parse_upload_chunk(self, response: HttpResponse) -> UploadedFile | None:
        self._raise_for_status(response, "files")
        status = response.headers.get("x-goog-upload-status", "").lower()
        if status == "final" or (not status and response.body.strip()):
            return file_from(decode_reply_body(response.body))
        return None

    def build_get_file(self, name: str) -> HttpRequest:
        return HttpRequest("GET", self._file_url(name), self._headers(json_body=False))

    def parse_file(self, response: HttpResponse) -> UploadedFile:
        self._raise_for_status(response, "files")
        return file_from(decode_reply_body(response.body))

    def build_delete_file(self, name: str) -> HttpRequest:
        return HttpRequest(
            "DELETE", self._file_url(name), self._headers(json_body=False)
        )

    def build_list_models(self, page_token: str | None = None) -> HttpRequest:
        """GET /v1beta/models, 1,000 a page (the API's largest page)."""
        query = "pageSize=1000" + (
            f"&pageToken={quote(page_token, safe='')}" if page_token else ""
        )
        return HttpRequest(
            "GET",
            f"{self.base_url}/v1beta/models?{query}",
            self._headers(json_body=False),
        )

    def parse_list_models(self, response: HttpResponse) -> tuple[list[str], str | None]:
        self._raise_for_status(response)
        doc = decode_reply_body(response.body)
        models = doc.get("models") if isinstance(doc, dict) else None
        if not isinstance(models, list):
            raise ReplyInvalid("the model list has no `models`", code="INVALID_JSON")
        names = [
            entry["name"].removeprefix("models/")
            for entry in models
            if isinstance(entry, dict) and isinstance(entry.get("name"), str)
        ]
        token = doc.get("nextPageToken") if isinstance(doc, dict) else None
        return names, token if isinstance(token, str) and token else None

    # The Batch API (reference: gemini-api.md section 9). The input file goes through the resumable upload.

    def build_batch_line(self, prompt: Prompt) -> bytes:
        return gemini_line(prompt.row_id, wire.generate_body(prompt))

    def build_batch_create(self, *, input_file: str, display_name: str) -> HttpRequest:
        body = {
            "batch": {
                "displayName": display_name,
                "inputConfig": {"fileName": input_file},
            }
        }
        url = f"{self.base_url}/v1beta/models/{self.model}:batchGenerateContent"
        return HttpRequest("POST", url, self._headers(), wire.encode(body))

    def parse_batch(self, response: HttpResponse) -> RemoteBatch:
        self._raise_for_status(response, "batch")
        return gemini_batch(decode_reply_body(response.body))

    def build_batch_get(self, name: str) -> HttpRequest:
        return HttpRequest(
            "GET",
            f"{self.base_url}/v1beta/{_batch_name(name)}",
            self._headers(json_body=False),
        )

    def build_batch_list(self, page_token: str | None = None) -> HttpRequest:
        query = "pageSize=100" + (
            f"&pageToken={quote(page_token, safe='')}" if page_token else ""
        )
        return HttpRequest(
            "GET",
            f"{self.base_url}/v1beta/batches?{query}",
            self._headers(json_body=False),
        )

    def parse_batch_list(
        self, response: HttpResponse
    ) -> tuple[list[RemoteBatch], str | None]:
        self._raise_for_status(response, "batch")
        doc = decode_reply_body(response.body)
        if not isinstance(doc, dict):
            raise ReplyInvalid(
                "the batch list is not a JSON object", code="INVALID_JSON"
            )
        operations = doc.get("operations") or doc.get("batches") or []
        jobs = [gemini_batch(op) for op in operations if isinstance(op, dict)]
        token = doc.get("nextPageToken")
        return jobs, token if isinstance(token, str) and token else None

    def build_batch_cancel(self, name: str) -> HttpRequest:
        url = f"{self.base_url}/v1beta/{_batch_name(name)}:cancel"
        return HttpRequest("POST", url, self._headers(), b"{}")

    def build_batch_download(self, file_name: str) -> HttpRequest:
        file_id = file_name.rstrip("/").rsplit("/", 1)[-1]
        url = f"{self.base_url}/download/v1beta/files/{file_id}:download?alt=media"
        return HttpRequest("GET", url, self._headers(json_body=False))

    def build_batch_delete_input(self, file_name: str) -> HttpRequest:
        return self.build_delete_file(file_name)

    def parse_batch_reply(self, line: BatchLine, prompt: Prompt) -> Reply:
        if line.status != 200:
            raise self._batch_error(line)
        return wire.reply_from(line.body, prompt)

    def _file_url(self, name: str) -> str:
        """`name` is "files/abc", "abc", or the file's URI."""
        file_id = name.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.base_url}/v1beta/files/{file_id}"


def _batch_name(name: str) -> str:
    """ "batches/abc" or "abc" -> "batches/abc"."""
    return name if name.startswith("batches/") else f"batches/{name}"


def file_from(doc: Any) -> UploadedFile:
    """A File resource (or `{"file": File}`, as the final upload chunk returns it) -> UploadedFile.

    A missing `state` is taken as ACTIVE: the API always sends one, and a file is usable unless it says otherwise.
    """
    if isinstance(doc, dict) and isinstance(doc.get("file"), dict):
        doc = doc["file"]
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise ReplyInvalid(
            "the reply is not a File resource (no name)", code="INVALID_JSON"
        )
    expires = doc.get("expirationTime")
    try:
        expires_at = (
            datetime.fromisoformat(expires) if isinstance(expires, str) else None
        )
    except ValueError:
        expires_at = None
    return UploadedFile(
        name=doc["name"],
        uri=str(doc.get("uri") or ""),
        mime_type=str(doc.get("mimeType") or "application/octet-stream"),
        state=str(doc.get("state") or "ACTIVE"),
        size_bytes=to_int(doc.get("sizeBytes")),
        sha256=doc.get("sha256Hash")
        if isinstance(doc.get("sha256Hash"), str)
        else None,
        expires_at=expires_at,
    )
