"""The aiohttp application: routes of every front door, plus the ledger endpoints."""

from __future__ import annotations

import json
import os
from functools import partial

from aiohttp import web

from . import batch_routes, files_routes, gemini, openai_compat
from .apierror import ApiError
from .config import EmulatorConfig
from .files import FileStore
from .flow import Door, State, error_response
from .jsonio import dumps

STATE: web.AppKey[State] = web.AppKey("emulator_state", State)
CLIENT_MAX_SIZE = (
    1 << 31
)  # request size is checked by the handlers (100 MB for generate, streaming for uploads)

GEMINI_VERSIONS = (
    "v1beta",
    "v1",
    "v1alpha",
)  # the SDK (3.x) defaults to v1, the REST docs use v1beta
_ACTIONS = (
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "batchGenerateContent",
)
_GEMINI = {
    (v, a): Door("gemini", f"POST /{v}/models/{{model}}:{a}")
    for v in GEMINI_VERSIONS
    for a in _ACTIONS
}
_VERTEX = {
    action: Door("vertex", f"POST vertex:{action}")
    for action in ("generateContent", "streamGenerateContent", "countTokens")
}


def create_app(config: EmulatorConfig) -> web.Application:
    """A fresh emulator app; its state (ledger, files, limits) lives and dies with it."""
    app = web.Application(client_max_size=CLIENT_MAX_SIZE)
    state = State(config, FileStore(config.storage_dir, config.file_processing_s))
    app[STATE] = state
    r = app.router
    batches = batch_routes.setup(app, state, GEMINI_VERSIONS)
    for v in GEMINI_VERSIONS:
        r.add_post(
            f"/{v}/models/{{name}}", partial(_gemini_action, state=state, version=v)
        )
        if (
            v != "v1"
        ):  # GET /v1/models is shared with the OpenAI-compatible list, see _v1_models
            r.add_get(f"/{v}/models", partial(gemini.list_models, state=state))
        r.add_get(f"/{v}/models/{{model}}", partial(gemini.get_model, state=state))
        r.add_post(f"/upload/{v}/files", partial(files_routes.upload, state=state))
        list_files: batch_routes.Handler = partial(files_routes.list_files, state=state)
        get_file: batch_routes.Handler = partial(files_routes.get_file, state=state)
        delete_file: batch_routes.Handler = partial(
            files_routes.delete_file, state=state
        )
        if v == "v1":  # shared with the aggregator's OpenAI-compatible /v1/files
            list_files, get_file, delete_file = batch_routes.v1_files(
                state, batches, list_files, get_file, delete_file
            )
        r.add_get(f"/{v}/files", list_files)
        r.add_get(f"/{v}/files/{{id}}", get_file)
        r.add_delete(f"/{v}/files/{{id}}", delete_file)
        r.add_get(
            f"/download/{v}/files/{{id}}", partial(files_routes.download, state=state)
        )
    for version in ("v1", "v1beta1"):
        r.add_post(
            f"/{version}/projects/{{project}}/locations/{{location}}/publishers/google/models/{{name}}",
            partial(_vertex_action, state=state),
        )
        r.add_post(
            f"/{version}/publishers/google/models/{{name}}",
            partial(_vertex_action, state=state),
        )
    for prefix, flavour in (("/v1", "openai"), ("/v1beta/openai", "google-openai")):
        r.add_post(
            f"{prefix}/chat/completions",
            partial(
                openai_compat.chat,
                state=state,
                door=Door(flavour, f"POST {prefix}/chat/completions"),
            ),
        )
        r.add_post(
            f"{prefix}/images/generations",
            partial(
                openai_compat.images,
                state=state,
                door=Door(flavour, f"POST {prefix}/images/generations"),
            ),
        )
        door = Door(flavour, f"GET {prefix}/models")
        handler = _v1_models if prefix == "/v1" else openai_compat.list_models
        r.add_get(f"{prefix}/models", partial(handler, state=state, door=door))
    r.add_get("/_emulator/ledger", partial(_ledger, state=state))
    r.add_post("/_emulator/reset", partial(_reset, state=state))
    app.on_cleanup.append(partial(_cleanup, state=state))
    return app


async def _v1_models(request: web.Request, state: State, door: Door) -> web.Response:
    """GET /v1/models: Gemini's list for a Google key (x-goog-api-key or ?key=), else OpenAI's."""
    if request.headers.get("x-goog-api-key") or request.query.get("key"):
        return await gemini.list_models(request, state)
    return await openai_compat.list_models(request, state, door)


async def _gemini_action(
    request: web.Request, state: State, version: str
) -> web.StreamResponse:
    name, _, action = request.match_info["name"].partition(":")
    door = _GEMINI.get((version, action)) or Door(
        "gemini", f"POST /{version}/models/{{model}}:other"
    )
    try:
        key = gemini.gemini_key(request, state)
    except ApiError as err:
        state.ledger.record(door.route, str(err.code))
        return error_response(err, "gemini")
    if action == "batchGenerateContent":
        return await batch_routes.create(request, state, key, name, version)
    return await gemini.handle_model_action(
        request, state, door, key, name, action, version=version
    )


async def _vertex_action(request: web.Request, state: State) -> web.StreamResponse:
    name, _, action = request.match_info["name"].partition(":")
    door = _VERTEX.get(action) or Door("vertex", "POST vertex:other")
    info = request.match_info
    path = f"projects/{info.get('project', '-')}/locations/{info.get('location', 'global')}/publishers/google/models/{name}"
    try:
        key = gemini.vertex_key(request, state)
    except ApiError as err:
        state.ledger.record(door.route, str(err.code))
        return error_response(err, "vertex")
    return await gemini.handle_model_action(
        request, state, door, key, name, action, vertex_path=path
    )


async def _ledger(request: web.Request, state: State) -> web.Response:
    return web.Response(
        body=dumps(state.ledger.to_json()), content_type="application/json"
    )


async def _reset(request: web.Request, state: State) -> web.Response:
    state.ledger.reset()
    return web.Response(body=b"{}", content_type="application/json")


async def _cleanup(app: web.Application, state: State) -> None:
    path = state.config.ledger_path
    if path:
        write_ledger(path, state)
    state.files.close()


def write_ledger(path: str, state: State) -> None:
    """Write the ledger atomically (a reader never sees half a file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state.ledger.to_json(), fh, indent=2)
    os.replace(tmp, path)
