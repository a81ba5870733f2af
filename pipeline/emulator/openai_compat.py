"""The OpenAI-compatible front doors: `/v1/` (an aggregator, OpenAI's error shape and usage details)
and `/v1beta/openai/` (Google's own layer: errors as a list of Google statuses, no usage details).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from aiohttp import web

from . import faults
from .apierror import ApiError, unauthenticated
from .flow import Door, State, error_response, send_json, serve
from .jsonio import dumps
from .models import MODELS, OPENAI_ALIASES, ModelInfo
from .openai_request import chat_request, images_request
from .request import GenRequest
from .synth import GenResult
from .tiers import OPENAI_NAMES

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}


def bearer_key(request: web.Request, state: State) -> str:
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not token:
        if state.config.require_key:
            raise unauthenticated(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        return "anonymous"
    if state.config.api_key is not None and token != state.config.api_key:
        raise unauthenticated(
            "Incorrect API key provided. Check the key you set for this endpoint."
        )
    return token


def usage_json(res: GenResult, flavour: str) -> dict[str, Any]:
    """Aggregator: completion includes reasoning, with details. Google: completion excludes thinking."""
    output = res.candidates_tokens
    total = res.prompt_tokens + output + res.thoughts_tokens
    if flavour == "google-openai":
        return {
            "prompt_tokens": res.prompt_tokens,
            "completion_tokens": output,
            "total_tokens": total,
        }
    details: dict[str, Any] = {"reasoning_tokens": res.thoughts_tokens}
    if res.image_tokens:
        details["image_tokens"] = res.image_tokens
    return {
        "prompt_tokens": res.prompt_tokens,
        "completion_tokens": output + res.thoughts_tokens,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": res.cached_tokens},
        "completion_tokens_details": details,
    }


def completion_json(
    res: GenResult,
    req: GenRequest,
    rid: str,
    flavour: str,
    model_name: str,
    report_tier: bool = False,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": res.text or None}
    if res.block_reason or res.safety_blocked:
        finish = "content_filter"
    elif res.function_call is not None:
        import json

        finish = "tool_calls"
        message["tool_calls"] = [{
            "id": f"call_{rid[:16]}", "type": "function",
            "function": {"name": res.function_call["name"], "arguments": json.dumps(res.function_call["args"])},
        }]  # fmt: skip
    elif res.finish_reason in ("IMAGE_SAFETY", "NO_IMAGE"):
        finish = "content_filter" if res.finish_reason == "IMAGE_SAFETY" else "stop"
    else:
        finish = _FINISH.get(res.finish_reason, "stop")
    if res.thought_text:
        message["reasoning"] = res.thought_text
    if res.image is not None:
        message["images"] = [
            {
                "type": "image_url",
                "image_url": {
                    "url": "data:image/jpeg;base64," + base64.b64encode(img).decode()
                },
            }
            for img in (res.image, *res.more_images)
        ]
    completion = {
        "id": ("gen-" + rid) if flavour == "openai" else rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        ],
        "usage": usage_json(res, flavour),
    }
    if report_tier:  # OpenAI's field, OpenAI's names (standard is "default")
        completion["service_tier"] = OPENAI_NAMES.get(res.service_tier, "default")
    return completion


def _stream_body(completion: dict[str, Any]) -> bytes:
    choice = completion["choices"][0]
    chunk = dict(completion, object="chat.completion.chunk")
    chunk["choices"] = [
        {
            "index": 0,
            "delta": choice["message"],
            "finish_reason": choice["finish_reason"],
        }
    ]
    return b"data: " + dumps(chunk) + b"\n\ndata: [DONE]\n\n"


async def chat(request: web.Request, state: State, door: Door) -> web.StreamResponse:
    try:
        key = bearer_key(request, state)
    except ApiError as err:
        state.ledger.record(door.route, str(err.code))
        return error_response(err, door.flavour)
    model_names: dict[str, str] = {}
    stream = False

    def parse(body: Any) -> tuple[ModelInfo, GenRequest]:
        nonlocal stream
        model, req = chat_request(
            body, door.flavour, state.files, caches=state.caches.resolver(key)
        )
        model_names["name"] = str(body.get("model"))
        if body.get("service_tier") is not None:
            model_names["tier"] = "yes"
        stream = bool(body.get("stream"))
        return model, req

    async def write(
        req_: web.Request,
        res: GenResult,
        req: GenRequest,
        rid: str,
        decision: faults.Decision,
    ) -> web.StreamResponse:
        completion = completion_json(
            res, req, rid, door.flavour, model_names.get("name", req.model.id),
            report_tier="tier" in model_names,
        )  # fmt: skip
        if stream:
            return web.Response(
                body=_stream_body(completion), content_type="text/event-stream"
            )
        return await send_json(req_, completion, decision)

    return await serve(request, state, door, key, parse, write)


async def images(request: web.Request, state: State, door: Door) -> web.StreamResponse:
    try:
        key = bearer_key(request, state)
    except ApiError as err:
        state.ledger.record(door.route, str(err.code))
        return error_response(err, door.flavour)
    fmt = {"value": "b64_json"}

    def parse(body: Any) -> tuple[ModelInfo, GenRequest]:
        model, req, fmt["value"] = images_request(body, door.flavour, state.files)
        return model, req

    async def write(
        req_: web.Request,
        res: GenResult,
        req: GenRequest,
        rid: str,
        decision: faults.Decision,
    ) -> web.StreamResponse:
        if res.block_reason or res.image is None:
            err = ApiError(
                400,
                "Image generation failed: the request was blocked by the safety filters.",
                openai_code="content_policy_violation",
            )
            return error_response(err, door.flavour)
        data = []
        for img in (res.image, *res.more_images):
            b64 = base64.b64encode(img).decode()
            data.append(
                {"b64_json": b64}
                if fmt["value"] == "b64_json"
                else {"url": "data:image/jpeg;base64," + b64}
            )
        body = {
            "created": int(time.time()),
            "data": data,
            "usage": {
                "input_tokens": res.prompt_tokens,
                "output_tokens": res.image_tokens,
                "total_tokens": res.prompt_tokens + res.image_tokens,
                "input_tokens_details": {
                    "text_tokens": res.prompt_tokens,
                    "image_tokens": 0,
                },
            },
        }
        return await send_json(req_, body, decision)

    return await serve(request, state, door, key, parse, write)


async def list_models(request: web.Request, state: State, door: Door) -> web.Response:
    try:
        bearer_key(request, state)
    except ApiError as err:
        return error_response(err, door.flavour)
    names = list(MODELS) + (list(OPENAI_ALIASES) if door.flavour == "openai" else [])
    prefix = "models/" if door.flavour == "google-openai" else ""
    data = [
        {"id": prefix + name, "object": "model", "created": 0, "owned_by": "google"}
        for name in names
    ]
    return web.Response(
        body=dumps({"object": "list", "data": data}), content_type="application/json"
    )
