"""HTTP side of `cachedContents`: create, get, list, patch and delete, on the Gemini API
(`/{v1beta,v1,v1alpha}/cachedContents`) and on Vertex
(`/{v1,v1beta1}/projects/{p}/locations/{l}/cachedContents`)."""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web

from .apierror import ApiError, invalid
from .flow import State, error_response, parse_json, read_body
from .gemini import gemini_key, vertex_key
from .jsonio import dumps

GEMINI_VERSIONS = ("v1beta", "v1", "v1alpha")
VERTEX_VERSIONS = ("v1", "v1beta1")


def _json(payload: Any) -> web.Response:
    return web.Response(
        body=dumps(payload), content_type="application/json", charset="UTF-8"
    )


def add_routes(app: web.Application, state: State) -> None:
    r = app.router
    for v in GEMINI_VERSIONS:
        base = f"/{v}/cachedContents"
        r.add_post(base, partial(_handle, state=state, op="create", version=v))
        r.add_get(base, partial(_handle, state=state, op="list", version=v))
        for method, op in (("GET", "get"), ("PATCH", "update"), ("DELETE", "delete")):
            r.add_route(
                method, base + "/{id}", partial(_handle, state=state, op=op, version=v)
            )
    for v in VERTEX_VERSIONS:
        base = f"/{v}/projects/{{project}}/locations/{{location}}/cachedContents"
        r.add_post(base, partial(_handle, state=state, op="create", version=v))
        r.add_get(base, partial(_handle, state=state, op="list", version=v))
        for method, op in (("GET", "get"), ("PATCH", "update"), ("DELETE", "delete")):
            r.add_route(
                method, base + "/{id}", partial(_handle, state=state, op=op, version=v)
            )


async def _handle(
    request: web.Request, state: State, op: str, version: str
) -> web.Response:
    info = request.match_info
    vertex = "project" in info
    parent = (
        f"projects/{info['project']}/locations/{info['location']}" if vertex else None
    )
    flavour = "vertex" if vertex else "gemini"
    route = (
        f"{request.method} vertex:cachedContents"
        if vertex
        else f"{request.method} /{version}/cachedContents"
    ) + ("/{id}" if "id" in info else "")
    status = "200"
    store = state.caches
    try:
        owner = vertex_key(request, state) if vertex else gemini_key(request, state)
        name = f"cachedContents/{info['id']}" if "id" in info else ""
        if op == "create":
            body = parse_json(await read_body(request))
            entry = store.create(owner, body, version=version, parent=parent)
            return _json(entry.resource())
        if op == "get":
            return _json(store.find(owner, name).resource())
        if op == "update":
            raw = await read_body(request)
            body = parse_json(raw) if raw.strip() else {}
            mask = request.query.get("updateMask", request.query.get("update_mask"))
            return _json(store.update(owner, name, body, mask).resource())
        if op == "delete":
            store.delete(owner, name)
            return _json({})
        try:
            size = int(request.query.get("pageSize", str(100)))
        except ValueError:
            raise invalid("pageSize must be an integer", "page_size") from None
        size = min(max(size, 1), 1000)
        page, token = store.page(owner, size, request.query.get("pageToken"))
        out: dict[str, Any] = {}
        if page:
            out["cachedContents"] = [e.resource() for e in page]
        if token:
            out["nextPageToken"] = token
        return _json(out)
    except ApiError as err:
        status = str(err.code)
        return error_response(err, flavour)
    finally:
        state.ledger.record(route, status)
