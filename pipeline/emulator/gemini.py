"""The Gemini (v1beta) and Vertex front doors: auth, generateContent, streaming, countTokens, models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import faults, tiers
from .apierror import ApiError, bad_key, model_not_found, no_key, unauthenticated
from .flow import Door, State, error_response, parse_json, read_body, send_json, serve
from .jsonio import dumps
from .models import MODELS, ModelInfo, lookup
from .request import GenRequest, parse_count, parse_generate
from .synth import GenResult

SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {
        "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
        "probability": "HIGH",
        "blocked": True,
    },
]


def gemini_key(request: web.Request, state: State) -> str:
    """The caller's key from `x-goog-api-key` or `?key=`; 403 without one, 400 for a wrong one."""
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    if not key:
        if state.config.require_key:
            raise no_key()
        return "anonymous"
    if state.config.api_key is not None and key != state.config.api_key:
        raise bad_key()
    return key


def vertex_key(request: web.Request, state: State) -> str:
    """Vertex takes an OAuth bearer token (it must equal --api-key when one is set), or an express key."""
    auth = request.headers.get("Authorization", "")
    if not auth and request.headers.get("x-goog-api-key"):
        return gemini_key(request, state)
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not token:
        if state.config.require_key:
            raise unauthenticated()
        return "anonymous"
    if state.config.api_key is not None and token != state.config.api_key:
        raise unauthenticated()
    return token


def usage_json(
    res: GenResult, vertex: bool = False, tier: str = tiers.STANDARD
) -> dict[str, Any]:
    """usageMetadata as the service writes it: zero fields left out; the served tier as
    `serviceTier` (Gemini API) or `trafficType` (Vertex)."""
    usage: dict[str, Any] = {"promptTokenCount": res.prompt_tokens}
    if res.candidates_tokens:
        usage["candidatesTokenCount"] = res.candidates_tokens
    usage["totalTokenCount"] = (
        res.prompt_tokens + res.candidates_tokens + res.thoughts_tokens
    )
    if res.cache_details:
        usage["cachedContentTokenCount"] = res.cached_tokens
    details = [
        {"modality": m, "tokenCount": c} for m, c in res.prompt_details.items() if c
    ]
    if details:
        usage["promptTokensDetails"] = details
    if res.cache_details:
        usage["cacheTokensDetails"] = [
            {"modality": m, "tokenCount": c} for m, c in res.cache_details.items()
        ]
    if res.image_tokens:
        usage["candidatesTokensDetails"] = [
            {"modality": "IMAGE", "tokenCount": res.image_tokens}
        ]
    if res.thoughts_tokens:
        usage["thoughtsTokenCount"] = res.thoughts_tokens
    if vertex:
        usage["trafficType"] = tiers.traffic_type(tier)
    else:
        usage["serviceTier"] = tier
    return usage


def parts_json(res: GenResult) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if res.thought_text:
        parts.append({"text": res.thought_text, "thought": True})
    if res.function_call is not None:
        parts.append(
            {"functionCall": res.function_call, "thoughtSignature": res.signature}
        )
        return parts
    if res.text:
        parts.append({"text": res.text, "thoughtSignature": res.signature})
    if res.image is not None:
        import base64

        data = base64.b64encode(res.image).decode()
        parts.append(
            {
                "inlineData": {"mimeType": "image/jpeg", "data": data},
                "thoughtSignature": res.signature,
            }
        )
    return parts


def candidate_json(
    res: GenResult, parts: list[dict[str, Any]] | None = None, final: bool = True
) -> dict[str, Any]:
    if res.empty_content:
        content: dict[str, Any] = {} if res.safety_blocked else {"role": "model"}
    else:
        content = {
            "role": "model",
            "parts": parts_json(res) if parts is None else parts,
        }
    candidate: dict[str, Any] = {"content": content}
    if final:
        candidate["finishReason"] = res.finish_reason
        if res.function_call is not None:
            candidate["finishMessage"] = "Model generated function call(s)."
        if res.safety_blocked:
            candidate["safetyRatings"] = SAFETY_RATINGS
    candidate["index"] = 0
    return candidate


def response_json(
    res: GenResult,
    model: str,
    rid: str,
    vertex: bool = False,
    tier: str = tiers.STANDARD,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if res.block_reason:
        out["promptFeedback"] = {
            "blockReason": res.block_reason,
            "safetyRatings": SAFETY_RATINGS,
        }
    else:
        out["candidates"] = [candidate_json(res)]
    out["usageMetadata"] = usage_json(res, vertex, tier)
    out["modelVersion"] = model
    if vertex:
        out["createTime"] = (
            datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        )
    out["responseId"] = rid
    return out


def _model(
    name: str, method: str, vertex_path: str | None, version: str = "v1beta"
) -> ModelInfo:
    model = lookup(name)
    if model is None:
        if vertex_path is not None:
            raise ApiError(
                404,
                f"Publisher Model `{vertex_path}` was not found or your project does not have access to it. Please ensure you are using a valid model version.",
            )
        raise model_not_found(name, method, version)
    return model


async def handle_model_action(
    request: web.Request, state: State, door: Door, key: str, name: str, action: str,
    vertex_path: str | None = None, version: str = "v1beta",
) -> web.StreamResponse:  # fmt: skip
    """POST .../models/{model}:{action} for generateContent, streamGenerateContent and countTokens."""
    vertex = door.flavour == "vertex"
    if action == "countTokens":
        return await count_tokens(
            request, state, door, name, vertex_path, version, key=key
        )
    if action not in ("generateContent", "streamGenerateContent"):
        return error_response(
            ApiError(404, f"Method not found: {action}"), door.flavour
        )
    stream = action == "streamGenerateContent"
    tier = [tiers.STANDARD]

    def parse(body: Any) -> tuple[ModelInfo, GenRequest]:
        model = _model(name, action, vertex_path, version)
        req = parse_generate(
            body, model, state.files.resolve, resolve_cache=state.caches.resolver(key)
        )
        tier[0] = tiers.served_tier(body, request.headers)
        return model, req

    async def write(
        req_: web.Request,
        res: GenResult,
        req: GenRequest,
        rid: str,
        decision: faults.Decision,
    ) -> web.StreamResponse:
        # the tier decided for this request (tiers.py): Flex, Priority, or a downgrade
        tier[0] = res.service_tier or tier[0]
        headers = {} if vertex else {tiers.TIER_HEADER: tier[0]}
        if stream:
            return await write_sse(
                req_, res, req.model.id, rid, decision, vertex, tier[0], headers
            )
        body = response_json(res, req.model.id, rid, vertex, tier[0])
        return await send_json(req_, body, decision, headers=headers)

    return await serve(request, state, door, key, parse, write)


async def count_tokens(
    request: web.Request,
    state: State,
    door: Door,
    name: str,
    vertex_path: str | None,
    version: str,
    key: str = "",
) -> web.StreamResponse:
    status = "200"
    try:
        body = parse_json(await read_body(request))
        model = _model(name, "countTokens", vertex_path, version)
        req = parse_count(
            body, model, state.files.resolve, resolve_cache=state.caches.resolver(key)
        )
        details = [
            {"modality": m, "tokenCount": c} for m, c in req.prompt_details.items() if c
        ]
        out: dict[str, Any] = {"totalTokens": req.prompt_tokens}
        if req.cache_details:
            out["cachedContentTokenCount"] = req.cached_tokens
        if details:
            out["promptTokensDetails"] = details
        if req.cache_details:
            out["cacheTokensDetails"] = [
                {"modality": m, "tokenCount": c} for m, c in req.cache_details.items()
            ]
        return web.Response(
            body=dumps(out), content_type="application/json", charset="UTF-8"
        )
    except ApiError as err:
        status = str(err.code)
        return error_response(err, door.flavour)
    finally:
        state.ledger.record(door.route, status)


async def write_sse(
    request: web.Request,
    res: GenResult,
    model: str,
    rid: str,
    decision: faults.Decision,
    vertex: bool,
    tier: str = tiers.STANDARD,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """`data: {chunk}\\r\\n\\r\\n` events with cumulative usage; finishReason only on the last one."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Content-Disposition": "attachment",
            **(headers or {}),
        }
    )
    await response.prepare(request)
    chunks = _chunks(res, model, rid, vertex, tier)
    for i, chunk in enumerate(chunks):
        data = dumps(chunk)
        if decision.malformed and i == len(chunks) - 1:
            data = data[: len(data) // 2]
        await response.write(b"data: " + data + b"\r\n\r\n")
        if (
            decision.truncated
            and i == 0
            and len(chunks) > 1
            or decision.truncated
            and len(chunks) == 1
        ):
            if request.transport is not None:
                request.transport.close()
            return response
    await response.write_eof()
    return response


def _chunks(
    res: GenResult, model: str, rid: str, vertex: bool, tier: str = tiers.STANDARD
) -> list[dict[str, Any]]:
    if (
        res.block_reason
        or res.empty_content
        or res.function_call is not None
        or not res.text
    ):
        return [response_json(res, model, rid, vertex, tier)]
    text = res.text
    cuts = [0, len(text) // 3, 2 * len(text) // 3, len(text)]
    chunks = []
    for i in range(3):
        piece = text[cuts[i] : cuts[i + 1]]
        partial = GenResult(
            prompt_tokens=res.prompt_tokens, prompt_details=res.prompt_details, thoughts_tokens=res.thoughts_tokens,
            text_tokens=(res.text_tokens * cuts[i + 1]) // max(1, len(text)), finish_reason=res.finish_reason,
            image_tokens=res.image_tokens if i == 2 else 0,
            service_tier=res.service_tier, cache_details=res.cache_details,
        )  # fmt: skip
        parts: list[dict[str, Any]] = []
        if i == 0 and res.thought_text:
            parts.append({"text": res.thought_text, "thought": True})
        if piece:
            part: dict[str, Any] = {"text": piece}
            if i == 0:
                part["thoughtSignature"] = res.signature
            parts.append(part)
        if i == 2 and res.image is not None:
            parts.extend(p for p in parts_json(res) if "inlineData" in p)
        chunk: dict[str, Any] = {
            "candidates": [candidate_json(partial, parts, final=i == 2)]
        }
        chunk["usageMetadata"] = usage_json(partial, vertex, tier)
        chunk["modelVersion"] = model
        chunk["responseId"] = rid
        chunks.append(chunk)
    return chunks


def model_resource(model: ModelInfo) -> dict[str, Any]:
    return {
        "name": f"models/{model.id}",
        "version": "3.1" if "3.1" in model.id else "3.0",
        "displayName": model.display_name,
        "description": f"{model.display_name} (served by the local emulator)",
        "inputTokenLimit": model.input_limit,
        "outputTokenLimit": model.output_limit,
        "supportedGenerationMethods": [
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": True,
    }


async def list_models(request: web.Request, state: State) -> web.Response:
    try:
        gemini_key(request, state)
    except ApiError as err:
        return error_response(err, "gemini")
    return web.Response(
        body=dumps({"models": [model_resource(m) for m in MODELS.values()]}),
        content_type="application/json",
    )


async def get_model(request: web.Request, state: State) -> web.Response:
    try:
        gemini_key(request, state)
        model = lookup(request.match_info["model"])
        if model is None:
            raise ApiError(
                404,
                f"models/{request.match_info['model']} is not found for API version v1beta.",
            )
    except ApiError as err:
        return error_response(err, "gemini")
    return web.Response(
        body=dumps(model_resource(model)), content_type="application/json"
    )
