"""OpenAI-compatible batches: the aggregator's `/v1/files` and `/v1/batches`, and Google's layer.

Aggregator door (`/v1/`), as OpenAI's Batch API: upload a JSONL file with `POST /v1/files`
(multipart, `purpose=batch`), `POST /v1/batches {input_file_id, endpoint: "/v1/chat/completions",
completion_window: "24h", metadata}`, poll `GET /v1/batches/{id}`, read `output_file_id` /
`error_file_id` with `GET /v1/files/{id}/content`. Lines are `{"custom_id", "method": "POST", "url",
"body"}`; the file is validated first (status `validating`, then `failed` with `errors` if it is
bad).

Google's layer (`/v1beta/openai/`): the reference documents batches there as create and status
only, with files uploaded and downloaded through the native Files API: `input_file_id` names a
native file (`files/...`), `output_file_id` is a native generated file. So only `POST batches` and
`GET batches/{id}` are served there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from . import batches
from .apierror import ApiError, invalid
from .batch_worker import FileLines, OpenAILines, Runner, scan_openai
from .batches import BatchJob
from .files import StoredFile
from .flow import State, error_response, parse_json, read_body
from .jsonio import dumps
from .openai_compat import bearer_key
from .openai_request import resolve_model

if TYPE_CHECKING:
    from .batch_routes import BatchService

ENDPOINTS = ("/v1/chat/completions",)
PURPOSES = frozenset(
    {"batch", "assistants", "fine-tune", "vision", "user_data", "evals"}
)
_STATUS = {
    batches.PENDING: "validating",
    batches.RUNNING: "in_progress",
    batches.SUCCEEDED: "completed",
    batches.FAILED: "failed",
    batches.CANCELLED: "cancelled",
    batches.EXPIRED: "expired",
}
CHUNK = 1 << 20


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=dumps(payload), content_type="application/json"
    )


# ---------------------------------------------------------------------------------------------
# The aggregator's files.


@dataclass(slots=True)
class OpenAIFile:
    id: str
    filename: str
    purpose: str
    size: int
    created: float
    path: str

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "file", "bytes": self.size, "created_at": int(self.created),
            "filename": self.filename, "purpose": self.purpose, "status": "processed",
            "expires_at": None, "status_details": None,
        }  # fmt: skip


class OpenAIFiles:
    """Files of the aggregator door; their bytes sit in the Files store's directory."""

    def __init__(self) -> None:
        self.files: dict[str, OpenAIFile] = {}

    def add(self, file: OpenAIFile) -> None:
        self.files[file.id] = file

    def add_generated(self, stored: StoredFile) -> str:
        """A batch's output or error file, as a `batch_output` file."""
        self.add(OpenAIFile(stored.id, f"{stored.display_name}.jsonl", "batch_output",
                            stored.size, stored.created, stored.path))  # fmt: skip
        return stored.id

    def get(self, file_id: str) -> OpenAIFile:
        found = self.files.get(file_id)
        if found is None:
            raise ApiError(
                404,
                f"No such File object: {file_id}",
                param="id",
                openai_code="file_not_found",
            )
        return found

    def delete(self, file_id: str) -> None:
        found = self.get(file_id)
        del self.files[file_id]
        with contextlib.suppress(OSError):
            os.unlink(found.path)


def new_file_id() -> str:
    return "file-" + secrets.token_hex(12)


async def upload_file(
    request: web.Request, state: State, svc: BatchService
) -> web.StreamResponse:
    """POST /v1/files: multipart `purpose` and `file`, streamed to disk."""
    status = "200"
    path = ""
    try:
        bearer_key(request, state)
        if not request.content_type.startswith("multipart/"):
            raise invalid(
                "Expected a multipart/form-data body with 'file' and 'purpose'."
            )
        reader = await request.multipart()
        purpose, filename, size, file_id = None, None, 0, new_file_id()
        limit = state.config.batch_max_input_bytes
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "purpose":
                purpose = (await part.text()).strip()
            elif part.name == "file":
                filename = part.filename or "upload.jsonl"
                path = os.path.join(state.files.dir, file_id)
                with open(path, "wb") as fh:  # noqa: ASYNC230 - small writes, streamed chunk by chunk
                    while chunk := await part.read_chunk(CHUNK):
                        size += len(chunk)
                        if size > limit:
                            raise invalid(
                                f"File is too large: files are limited to {limit} bytes.",
                                "file",
                            )
                        fh.write(chunk)
            else:
                await part.release()
        if filename is None:
            raise invalid("Missing required parameter: 'file'.", "file")
        if purpose not in PURPOSES:
            raise invalid(f"Invalid value for 'purpose': {purpose!r}.", "purpose")
        file = OpenAIFile(file_id, filename, purpose, size, time.time(), path)
        svc.openai_files.add(file)
        state.ledger.upload(size)
        path = ""
        return _json(file.json())
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "openai")
    finally:
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)
        state.ledger.record("POST /v1/files", status)


async def file_call(
    request: web.Request, state: State, svc: BatchService, action: str
) -> web.StreamResponse:
    """GET /v1/files, GET /v1/files/{id}, DELETE /v1/files/{id}, GET /v1/files/{id}/content."""
    route = {
        "list": "GET /v1/files", "get": "GET /v1/files/{id}", "delete": "DELETE /v1/files/{id}",
        "content": "GET /v1/files/{id}/content",
    }[action]  # fmt: skip
    status = "200"
    try:
        bearer_key(request, state)
        if action == "list":
            purpose = request.query.get("purpose")
            data = [
                f.json()
                for f in sorted(
                    svc.openai_files.files.values(), key=lambda f: -f.created
                )
                if purpose is None or f.purpose == purpose
            ]
            return _json({"object": "list", "data": data, "has_more": False,
                          "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None})  # fmt: skip
        file_id = request.match_info["id"]
        file = svc.openai_files.get(file_id)
        if action == "delete":
            svc.openai_files.delete(file_id)
            return _json({"id": file_id, "object": "file", "deleted": True})
        if action == "content":
            return web.FileResponse(
                file.path, headers={"Content-Type": "application/octet-stream"}
            )
        return _json(file.json())
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "openai")
    finally:
        state.ledger.record(route, status)


# ---------------------------------------------------------------------------------------------
# Batches.


def public_id(job: BatchJob) -> str:
    return f"batch_{job.id}" if job.door == "openai" else job.name


def _private_id(job_id: str) -> str:
    return job_id.removeprefix("batch_").removeprefix("batches/")


def batch_json(job: BatchJob, expire_s: float) -> dict[str, Any]:
    """The job as an OpenAI Batch object."""

    def at(ts: float | None) -> int | None:
        return None if ts is None else int(ts)

    ended = job.ended
    state = job.state
    errors = (
        {"object": "list", "data": job.validation_errors}
        if job.validation_errors
        else None
    )
    usage: dict[str, Any] | None = None
    if job.usage:
        usage = {
            "input_tokens": job.usage.get("input_tokens", 0),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": job.usage.get("output_tokens", 0),
            "output_tokens_details": {"reasoning_tokens": job.usage.get("reasoning_tokens", 0)},
            "total_tokens": job.usage.get("input_tokens", 0) + job.usage.get("output_tokens", 0),
        }  # fmt: skip
    total = (
        0 if state == batches.PENDING or job.validation_errors else job.request_count
    )
    return {
        "id": public_id(job), "object": "batch", "endpoint": job.endpoint, "errors": errors,
        "input_file_id": job.file_name, "completion_window": job.completion_window,
        "status": _STATUS[state], "output_file_id": job.output_file, "error_file_id": job.error_file,
        "created_at": int(job.created), "in_progress_at": at(job.started),
        "expires_at": int(job.created + expire_s),
        "finalizing_at": at(ended) if state == batches.SUCCEEDED else None,
        "completed_at": at(ended) if state == batches.SUCCEEDED else None,
        "failed_at": at(ended) if state == batches.FAILED else None,
        "expired_at": at(ended) if state == batches.EXPIRED else None,
        "cancelling_at": at(job.cancelled_at), "cancelled_at": at(job.cancelled_at),
        "request_counts": {"total": total, "completed": job.ok, "failed": job.failed},
        "metadata": job.metadata, "model": job.model, "usage": usage,
    }  # fmt: skip


async def create_batch(
    request: web.Request, state: State, svc: BatchService, door: str
) -> web.StreamResponse:
    """POST /v1/batches (aggregator) or /v1beta/openai/batches (Google's layer)."""
    prefix = "/v1" if door == "openai" else "/v1beta/openai"
    status = "200"
    try:
        key = bearer_key(request, state)
        body = parse_json(await read_body(request))
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object.")
        file_id = body.get("input_file_id")
        if not isinstance(file_id, str) or not file_id:
            raise invalid(
                "Missing required parameter: 'input_file_id'.", "input_file_id"
            )
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            raise invalid(
                f"Invalid value for 'endpoint': {endpoint!r}. Supported: {', '.join(ENDPOINTS)}.",
                "endpoint",
            )
        window = body.get("completion_window")
        if window != "24h":
            raise invalid(
                f"Invalid value for 'completion_window': {window!r}. Only '24h' is supported.",
                "completion_window",
            )
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not all(isinstance(v, str) for v in metadata.values())
        ):
            raise invalid("'metadata' must be an object of strings.", "metadata")
        path, size, file_name = _input_file(state, svc, door, file_id)
        limit = state.config.batch_max_input_bytes
        if size > limit:
            raise invalid(
                f"The input file {file_id} is {size} bytes; batch input files are limited to {limit} bytes.",
                "input_file_id",
            )
        count_tokens = state.config.batch_enqueued_tokens is not None
        scan = await asyncio.to_thread(
            scan_openai, state, path, str(endpoint), door, count_tokens
        )
        if scan.count == 0:
            scan.errors.append({"code": "empty_file", "line": None, "param": None,
                                "message": "The input file contains no requests."})  # fmt: skip
        model_id = scan.model or ""
        if scan.model and not scan.errors:
            try:
                model_id = resolve_model(scan.model, door)[0].id
            except ApiError as err:
                scan.errors.append({"code": "model_not_found", "line": 1,
                                    "param": "body.model", "message": err.message})  # fmt: skip
        svc.store.admit(state.config, door, key, model_id, scan.tokens)
        text = " ".join((metadata or {}).values())
        directives = batches.parse_job_directives(text)
        job = BatchJob(
            batches.new_id(), door, scan.model or "", key, "", time.time(), time.monotonic(),
            scan.count, input_tokens=scan.tokens, file_name=file_name, directives=directives,
            endpoint=str(endpoint), completion_window="24h", metadata=metadata,
            validation_errors=scan.errors,
        )  # fmt: skip
        svc.apply_fail_rate(state, job)
        register = (
            svc.openai_files.add_generated if door == "openai" else _native(state)
        )
        ids = (
            (new_file_id(), new_file_id())
            if door == "openai"
            else (f"batch-{job.id}", f"batch-{job.id}-errors")
        )
        lines = OpenAILines(state, job, ids, register)
        source = FileLines(path)
        svc.start(state, Runner(state, job, source, lines))
        state.ledger.batch.job_created(door)
        return _json(batch_json(job, state.config.batch_expire_s))
    except ApiError as err:
        status = str(err.code)
        return error_response(err, door)
    finally:
        state.ledger.record(f"POST {prefix}/batches", status)


def _native(state: State) -> Any:
    def register(stored: StoredFile) -> str:
        state.files.add(stored)
        return f"files/{stored.id}"

    return register


def _input_file(
    state: State, svc: BatchService, door: str, file_id: str
) -> tuple[str, int, str]:
    """(path, size, name as given back) of the input file: the aggregator's file, or a native
    Files API file on Google's layer (`files/abc` or `abc`)."""
    if door == "openai":
        file = svc.openai_files.get(file_id)
        if file.purpose != "batch":
            raise invalid(
                f"The input file {file_id} must be uploaded with purpose 'batch'.",
                "input_file_id",
            )
        return file.path, file.size, file.id
    plain = file_id.removeprefix("files/")
    stored = state.files.get(plain)
    if stored.state(time.time()) != "ACTIVE":
        raise ApiError(
            400,
            f"The File {plain} is not in an ACTIVE state and usage is not allowed.",
            status="FAILED_PRECONDITION",
        )
    return stored.path, stored.size, f"files/{plain}"


async def batch_call(
    request: web.Request, state: State, svc: BatchService, door: str, action: str
) -> web.StreamResponse:
    """GET batches/{id}, GET batches (list), POST batches/{id}/cancel."""
    prefix = "/v1" if door == "openai" else "/v1beta/openai"
    route = {
        "get": f"GET {prefix}/batches/{{id}}", "list": f"GET {prefix}/batches",
        "cancel": f"POST {prefix}/batches/{{id}}/cancel",
    }[action]  # fmt: skip
    status = "200"
    doors = frozenset({door})
    expire_s = state.config.batch_expire_s
    try:
        bearer_key(request, state)
        if action == "list":
            return _json(_list(svc, doors, request, expire_s))
        job = svc.store.get(_private_id(request.match_info["id"]), doors)
        if action == "cancel":
            if job.terminal:
                raise invalid(
                    f"Cannot cancel a batch with status '{_STATUS[job.state]}'."
                )
            svc.cancel(job)
        return _json(batch_json(job, expire_s))
    except ApiError as err:
        status = str(err.code)
        if err.code == 404 and door == "openai":
            err = ApiError(404, f"No such Batch object: {request.match_info.get('id')}",
                           param="id", openai_code="batch_not_found")  # fmt: skip
        return error_response(err, door)
    finally:
        state.ledger.record(route, status)


async def not_offered(request: web.Request) -> web.StreamResponse:
    """Routes Google's layer does not document (list, cancel): 404, as an unknown path."""
    err = ApiError(404, f"Method not found: {request.method} {request.path}")
    return error_response(err, "google-openai")


def _list(
    svc: BatchService, doors: frozenset[str], request: web.Request, expire_s: float
) -> dict[str, Any]:
    try:
        limit = min(max(int(request.query.get("limit", "20")), 1), 100)
    except ValueError:
        raise invalid("'limit' must be an integer.", "limit") from None
    jobs = [j for j in reversed(svc.store.jobs.values()) if j.door in doors]
    after = request.query.get("after")
    if after:
        ids = [public_id(j) for j in jobs]
        jobs = jobs[ids.index(after) + 1 :] if after in ids else []
    page = jobs[:limit]
    data = [batch_json(j, expire_s) for j in page]
    return {
        "object": "list", "data": data, "has_more": len(jobs) > limit,
        "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None,
    }  # fmt: skip


def google_key_present(request: web.Request) -> bool:
    """A Google key (header or `?key=`) marks a Gemini request on the routes `/v1/` shares."""
    return bool(request.headers.get("x-goog-api-key") or request.query.get("key"))
