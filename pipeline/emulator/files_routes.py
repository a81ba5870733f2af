"""HTTP side of the Files API: the resumable upload protocol and get / list / delete."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .apierror import ApiError, invalid
from .flow import State, error_response, parse_json
from .gemini import gemini_key
from .jsonio import dumps

CHUNK = 1 << 20


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _json(payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=dumps(payload),
        content_type="application/json",
        charset="UTF-8",
        headers=headers,
    )


async def upload(request: web.Request, state: State) -> web.StreamResponse:
    """POST /upload/v1beta/files: `start` opens a session; `upload[, finalize]` sends bytes to it."""
    status = "200"
    try:
        command = (
            request.headers.get("X-Goog-Upload-Command", "").lower().replace(" ", "")
        )
        upload_id = request.query.get("upload_id")
        if upload_id is None:
            gemini_key(
                request, state
            )  # later chunks are authorised by the session URL itself
            return await _start(request, state, command)
        steps = set(command.split(","))
        if not steps & {"upload", "finalize"}:
            raise invalid(f"Unsupported X-Goog-Upload-Command: {command!r}")
        try:
            offset = int(request.headers.get("X-Goog-Upload-Offset", "0"))
        except ValueError:
            raise invalid("X-Goog-Upload-Offset must be an integer") from None
        chunks = (
            request.content.iter_chunked(CHUNK) if "upload" in steps else _nothing()
        )
        stored = await state.files.receive(
            upload_id, offset, chunks, "finalize" in steps
        )
        if stored is None:
            return web.Response(body=b"", headers={"x-goog-upload-status": "active"})
        state.ledger.upload(stored.size)
        return _json(
            {"file": stored.resource(_origin(request), time.time())},
            {"x-goog-upload-status": "final"},
        )
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "gemini")
    finally:
        state.ledger.record("POST /upload/v1beta/files", status)


async def _nothing() -> Any:
    return
    yield b""  # pragma: no cover - makes this an empty async generator


async def _start(request: web.Request, state: State, command: str) -> web.Response:
    protocol = request.headers.get("X-Goog-Upload-Protocol", "").lower()
    if protocol != "resumable" or command != "start":
        raise invalid(
            "Only the resumable upload protocol is supported: send X-Goog-Upload-Protocol: resumable and X-Goog-Upload-Command: start."
        )
    raw = await request.read()
    meta = parse_json(raw) if raw.strip() else {}
    file = meta.get("file", {}) if isinstance(meta, dict) else {}
    if not isinstance(file, dict):
        raise invalid(
            "Invalid JSON payload received: 'file' must be an object.", "file"
        )
    mime = (
        request.headers.get("X-Goog-Upload-Header-Content-Type")
        or file.get("mimeType")
        or file.get("mime_type")
    )
    if not mime:
        raise invalid(
            "The upload needs a MIME type: set X-Goog-Upload-Header-Content-Type."
        )
    size_header = request.headers.get("X-Goog-Upload-Header-Content-Length")
    declared = int(size_header) if size_header and size_header.isdigit() else None
    name = file.get("displayName") or file.get("display_name")
    upload_id = state.files.start(
        name if isinstance(name, str) else None,
        mime.split(";")[0].strip().lower(),
        declared,
    )
    url = f"{_origin(request)}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
    return web.Response(
        body=b"",
        headers={
            "X-Goog-Upload-URL": url,
            "X-Goog-Upload-Status": "active",
            "X-Goog-Upload-Chunk-Granularity": "8388608",
        },
    )


async def get_file(request: web.Request, state: State) -> web.StreamResponse:
    if ":" in request.match_info["id"]:  # the SDK's `files/{id}:download?alt=media`
        return await download(request, state)
    return await _file_call(request, state, "GET /v1beta/files/{id}")


async def download(request: web.Request, state: State) -> web.StreamResponse:
    """GET /download/v1beta/files/{id}:download?alt=media: a generated file's bytes, streamed from disk."""
    status = "200"
    try:
        gemini_key(request, state)
        file_id, _, action = request.match_info["id"].partition(":")
        if action != "download":
            raise ApiError(404, f"Method not found: {action or 'none'}")
        stored = state.files.get(file_id)
        if stored.source != "GENERATED":
            raise invalid(
                f"Only generated files can be downloaded; files/{file_id} was uploaded."
            )
        return web.FileResponse(stored.path, headers={"Content-Type": stored.mime_type})
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "gemini")
    finally:
        state.ledger.record("GET /download/v1beta/files/{id}:download", status)


async def delete_file(request: web.Request, state: State) -> web.Response:
    return await _file_call(request, state, "DELETE /v1beta/files/{id}")


async def _file_call(request: web.Request, state: State, route: str) -> web.Response:
    status = "200"
    try:
        gemini_key(request, state)
        file_id = request.match_info["id"]
        if request.method == "DELETE":
            state.files.delete(file_id)
            return _json({})
        return _json(state.files.get(file_id).resource(_origin(request), time.time()))
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "gemini")
    finally:
        state.ledger.record(route, status)


async def list_files(request: web.Request, state: State) -> web.Response:
    status = "200"
    try:
        gemini_key(request, state)
        try:
            size = int(request.query.get("pageSize", "10"))
        except ValueError:
            raise invalid("pageSize must be an integer", "page_size") from None
        size = min(max(size, 1), 100)
        page, token = state.files.page(size, request.query.get("pageToken"))
        out: dict[str, Any] = {}
        if page:
            now = time.time()
            out["files"] = [f.resource(_origin(request), now) for f in page]
        if token:
            out["nextPageToken"] = token
        return _json(out)
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "gemini")
    finally:
        state.ledger.record("GET /v1beta/files", status)
