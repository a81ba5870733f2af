"""HTTP side of the Batch API: create, get, list, cancel and delete batch jobs, on every door.

Gemini (`/{v1beta,v1,v1alpha}/`): `POST models/{model}:batchGenerateContent`, `GET batches/{id}`,
`GET batches`, `POST batches/{id}:cancel`, `DELETE batches/{id}` (also `POST batches/{id}:delete`,
as in the guide's curl). The routes under `/v1/` are shared with the aggregator's OpenAI-compatible
`/v1/batches` and `/v1/files`: a request carrying a Google key (`x-goog-api-key` or `?key=`) is a
Gemini one, any other an OpenAI one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any

from aiohttp import web

from . import batches
from .apierror import ApiError, invalid, model_not_found
from .batch_worker import (
    FileLines,
    GeminiFileLines,
    GeminiInlineLines,
    Lines,
    Runner,
    scan_gemini,
    scan_inline,
)
from .batches import BatchJob, BatchStore
from .flow import State, error_response, parse_json, read_body
from .gemini import gemini_key
from .jsonio import dumps
from .models import lookup
from .openai_batches import (
    OpenAIFiles,
    batch_call,
    create_batch,
    file_call,
    google_key_present,
    not_offered,
    upload_file,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GEMINI_DOORS = frozenset(
    {"gemini", "google-openai"}
)  # what the native list and get show


class BatchService:
    """The jobs of one emulator, the tasks that run them, and the aggregator's files."""

    def __init__(self) -> None:
        self.store = BatchStore()
        self.runners: dict[str, Runner] = {}
        self.openai_files = OpenAIFiles()

    def start(self, state: State, runner: Runner) -> None:
        self.store.add(runner.job)
        self.runners[runner.job.id] = runner
        runner.start()

    def apply_fail_rate(self, state: State, job: BatchJob) -> None:
        """`batch_fail_rate`: this job ends FAILED half-way (unless a directive already decides)."""
        config = state.config
        if job.directives.fail_after is None and batches.will_fail(
            config.seed, job.id, config.batch_fail_rate
        ):
            job.directives = replace(job.directives, fail_after=job.request_count // 2)

    def cancel(self, job: BatchJob) -> None:
        runner = self.runners.get(job.id)
        if runner is not None:
            runner.cancel()

    def delete(self, job: BatchJob) -> None:
        runner = self.runners.pop(job.id, None)
        if runner is not None and not job.terminal:
            runner.cancel()
        self.store.remove(job.id)

    async def shutdown(self, app: web.Application) -> None:
        for runner in self.runners.values():
            runner.shutdown()
        tasks = [r.task for r in self.runners.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


SERVICE: web.AppKey[BatchService] = web.AppKey("emulator_batches", BatchService)


def setup(
    app: web.Application, state: State, versions: tuple[str, ...]
) -> BatchService:
    """Register every batch route (Gemini, aggregator, Google's OpenAI layer) and the shutdown hook."""
    svc = BatchService()
    app[SERVICE] = svc
    r = app.router
    for v in versions:
        get_job: Handler = partial(get_batch, state=state, svc=svc)
        list_jobs: Handler = partial(list_batches, state=state, svc=svc)
        if v == "v1":
            get_job = _split(
                get_job,
                partial(batch_call, state=state, svc=svc, door="openai", action="get"),
            )
            list_jobs = _split(list_jobs, partial(batch_call, state=state, svc=svc, door="openai", action="list"))  # fmt: skip
        r.add_get(f"/{v}/batches", list_jobs)
        r.add_get(f"/{v}/batches/{{id}}", get_job)
        r.add_post(f"/{v}/batches/{{id}}", partial(batch_action, state=state, svc=svc))
        r.add_delete(
            f"/{v}/batches/{{id}}", partial(delete_batch, state=state, svc=svc)
        )
    r.add_post(
        "/v1/batches", partial(create_batch, state=state, svc=svc, door="openai")
    )
    r.add_post(
        "/v1/batches/{id}/cancel",
        partial(batch_call, state=state, svc=svc, door="openai", action="cancel"),
    )
    r.add_post("/v1/files", partial(upload_file, state=state, svc=svc))
    r.add_get(
        "/v1/files/{id}/content",
        partial(file_call, state=state, svc=svc, action="content"),
    )
    google = "google-openai"
    r.add_post(
        "/v1beta/openai/batches",
        partial(create_batch, state=state, svc=svc, door=google),
    )
    r.add_get("/v1beta/openai/batches", not_offered)
    r.add_post("/v1beta/openai/batches/{id}/cancel", not_offered)
    r.add_get(
        "/v1beta/openai/batches/{id:.+}",
        partial(batch_call, state=state, svc=svc, door=google, action="get"),
    )
    app.on_shutdown.append(svc.shutdown)
    return svc


def v1_files(
    state: State,
    svc: BatchService,
    list_files: Handler,
    get_file: Handler,
    delete_file: Handler,
) -> tuple[Handler, Handler, Handler]:
    """The Files API handlers of `/v1/`, each shared with the aggregator's OpenAI `/v1/files`."""
    return (
        _split(list_files, partial(file_call, state=state, svc=svc, action="list")),
        _split(get_file, partial(file_call, state=state, svc=svc, action="get")),
        _split(delete_file, partial(file_call, state=state, svc=svc, action="delete")),
    )


def _split(gemini: Handler, openai: Handler) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if google_key_present(request):
            return await gemini(request)
        return await openai(request)

    return handler


def _json(payload: Any) -> web.Response:
    return web.Response(
        body=dumps(payload), content_type="application/json", charset="UTF-8"
    )


async def create(
    request: web.Request, state: State, key: str, name: str, version: str
) -> web.StreamResponse:
    """POST /{v}/models/{model}:batchGenerateContent (called from the model-action route)."""
    svc = request.app[SERVICE]
    config = state.config
    status = "200"
    try:
        model = lookup(name)
        if model is None:
            raise model_not_found(name, "batchGenerateContent", version)
        raw = await read_body(request)
        spec = batches.parse_create(parse_json(raw))
        count_tokens = config.batch_enqueued_tokens is not None
        file_name = spec.file_name
        if spec.requests is not None:
            if len(raw) > batches.INLINE_LIMIT_BYTES:
                raise invalid(
                    f"Request payload size exceeds the limit: {batches.INLINE_LIMIT_BYTES} bytes. "
                    "Use an input file (input_config.file_name) for larger batches.",
                    "batch.input_config.requests",
                )
            count = len(spec.requests)
            tokens = scan_inline(state, spec.requests, model) if count_tokens else 0
        else:
            assert file_name is not None
            stored = state.files.get(file_name.removeprefix("files/"))
            if stored.state(time.time()) != "ACTIVE":
                raise ApiError(
                    400,
                    f"The File {stored.id} is not in an ACTIVE state and usage is not allowed.",
                    status="FAILED_PRECONDITION",
                )
            limit = config.batch_max_input_bytes
            if stored.size > limit:
                raise invalid(
                    f"The input file {file_name} is {stored.size} bytes; batch input files are "
                    f"limited to {limit} bytes (2 GB).",
                    "batch.input_config.file_name",
                )
            scan = await asyncio.to_thread(
                scan_gemini, state, stored.path, model, count_tokens
            )
            if not scan.count:
                raise invalid(
                    f"The input file {file_name} contains no requests.",
                    "batch.input_config.file_name",
                )
            count, tokens = scan.count, scan.tokens
        svc.store.admit(config, "gemini", key, model.id, tokens)
        now = time.time()
        job = BatchJob(
            batches.new_id(), "gemini", model.id, key, spec.display_name, now, time.monotonic(),
            count, input_tokens=tokens, priority=spec.priority, file_name=file_name,
            directives=spec.directives, updated=now,
        )  # fmt: skip
        svc.apply_fail_rate(state, job)
        lines: Lines
        source: Any
        if spec.requests is not None:
            lines, source = GeminiInlineLines(state, job, model), iter(spec.requests)
        else:
            lines, source = GeminiFileLines(state, job, model), FileLines(stored.path)
        svc.start(state, Runner(state, job, source, lines))
        state.ledger.batch.job_created("gemini")
        return _json(batches.operation_json(job))
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "gemini")
    finally:
        state.ledger.record(
            f"POST /{version}/models/{{model}}:batchGenerateContent", status
        )


async def get_batch(
    request: web.Request, state: State, svc: BatchService
) -> web.StreamResponse:
    status = "200"
    try:
        gemini_key(request, state)
        job_id = request.match_info["id"]
        if ":" in job_id:
            raise ApiError(404, f"Method not found: GET batches/{job_id}")
        return _json(batches.operation_json(svc.store.get(job_id, GEMINI_DOORS)))
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "gemini")
    finally:
        state.ledger.record("GET /v1beta/batches/{id}", status)


async def list_batches(
    request: web.Request, state: State, svc: BatchService
) -> web.StreamResponse:
    """GET /{v}/batches?pageSize=&pageToken= -> {"operations": [...], "nextPageToken"}, newest first."""
    status = "200"
    try:
        gemini_key(request, state)
        try:
            size = int(request.query.get("pageSize", "10"))
        except ValueError:
            raise invalid("pageSize must be an integer", "page_size") from None
        size = min(max(size, 1), 100)
        page, token = svc.store.page(GEMINI_DOORS, size, request.query.get("pageToken"))
        out: dict[str, Any] = {}
        if page:
            out["operations"] = [batches.operation_json(job) for job in page]
        if token:
            out["nextPageToken"] = token
        return _json(out)
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "gemini")
    finally:
        state.ledger.record("GET /v1beta/batches", status)


async def batch_action(
    request: web.Request, state: State, svc: BatchService
) -> web.StreamResponse:
    """POST /{v}/batches/{id}:cancel (and :delete)."""
    job_id, _, action = request.match_info["id"].partition(":")
    route = f"POST /v1beta/batches/{{id}}:{action if action in ('cancel', 'delete') else 'other'}"
    status = "200"
    try:
        gemini_key(request, state)
        if action not in ("cancel", "delete"):
            raise ApiError(404, f"Method not found: {action or 'POST batches/{id}'}")
        job = svc.store.get(job_id, GEMINI_DOORS)
        if action == "delete":
            svc.delete(job)
            return _json({})
        if job.terminal:
            raise ApiError(
                400,
                f"The batch {job.name} is already in a terminal state ({job.state}) and cannot be cancelled.",
                status="FAILED_PRECONDITION",
            )
        svc.cancel(job)
        return _json({})
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "gemini")
    finally:
        state.ledger.record(route, status)


async def delete_batch(
    request: web.Request, state: State, svc: BatchService
) -> web.StreamResponse:
    """DELETE /{v}/batches/{id}: the job leaves the list; a job still running is stopped."""
    status = "200"
    try:
        gemini_key(request, state)
        svc.delete(svc.store.get(request.match_info["id"], GEMINI_DOORS))
        return _json({})
    except ApiError as err:
        status = str(err.code)
        return error_response(err, "gemini")
    finally:
        state.ledger.record("DELETE /v1beta/batches/{id}", status)
