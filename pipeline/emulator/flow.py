"""One generate request from bytes to answer, shared by every front door (Gemini, Vertex, OpenAI).

Order: read the body, authenticate, parse and validate (400s use no quota), admit against the
server-side limits (429s use no quota), decide faults from the attempt number of this exact body,
wait the latency, generate, answer. The ledger sees every request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from aiohttp import web

from . import faults, synth
from .apierror import ApiError, invalid
from .config import EmulatorConfig
from .files import FileStore
from .jsonio import dumps, loads
from .ledger import BodyStat, Ledger
from .media import MAX_REQUEST_BYTES
from .models import ModelInfo
from .quotas import Quotas
from .request import GenRequest
from .throttle import fault_error, quota_error

_NORMAL = NormalDist()


class State:
    """Everything one emulator instance holds: config, ledger, limits and uploaded files."""

    def __init__(self, config: EmulatorConfig, files: FileStore) -> None:
        self.config = config
        self.ledger = Ledger(config.window_s)
        self.quotas = Quotas(
            config.rpm, config.tpm, config.rpd, config.window_s, config.day_window_s
        )
        self.files = files
        self.seed_bytes = config.seed.to_bytes(8, "big", signed=True)


@dataclass(frozen=True, slots=True)
class Door:
    """How one front door differs: error shape, auth and the reply renderer."""

    flavour: str  # "gemini" | "vertex" | "openai" | "google-openai"
    route: str


Parse = Callable[[Any], tuple[ModelInfo, GenRequest]]
Render = Callable[[synth.GenResult, GenRequest, str], Any]
Writer = Callable[
    [web.Request, synth.GenResult, GenRequest, str, faults.Decision],
    Awaitable[web.StreamResponse],
]


def error_response(err: ApiError, flavour: str) -> web.Response:
    if flavour == "openai":
        body: Any = err.openai_body()
    elif flavour == "google-openai":
        body = [err.google_body()]
    else:
        body = err.google_body()
    return web.Response(
        status=err.code,
        body=dumps(body),
        content_type="application/json",
        headers=err.headers,
    )


async def read_body(request: web.Request) -> bytes:
    size = request.content_length
    if size is not None and size > MAX_REQUEST_BYTES:
        raise invalid(
            f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."
        )
    body = await request.read()
    if len(body) > MAX_REQUEST_BYTES:
        raise invalid(
            f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."
        )
    return body


def parse_json(body: bytes) -> Any:
    try:
        return loads(body)
    except ValueError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from None


def base_latency(config: EmulatorConfig, digest: bytes) -> float:
    """Seconds before answering: fixed, or lognormal around the median with the given p99."""
    median = config.latency_ms / 1000.0
    if config.latency_p99_ms is None or median <= 0:
        return median
    mixed = hashlib.blake2b(
        digest, digest_size=8, key=config.seed.to_bytes(8, "big", signed=True)
    ).digest()
    u = (int.from_bytes(mixed, "big") + 0.5) / 2**64
    sigma = (
        max(0.0, math.log(config.latency_p99_ms / config.latency_ms))
        / 2.3263478740408408
    )
    return median * math.exp(sigma * _NORMAL.inv_cdf(u))


def response_id(digest: bytes, attempt: int) -> str:
    return base64.urlsafe_b64encode(
        hashlib.blake2b(digest + attempt.to_bytes(4, "big"), digest_size=16).digest()
    )[:22].decode()


def reply_key(req: GenRequest) -> bytes:
    """What seeds the reply: the parsed request, not the body's bytes. The same request sent through any
    front door (Gemini, Vertex, OpenAI-compatible) gets the same text and token counts, so a job can switch
    providers and compare; fault attempts, latency and ids stay keyed on the exact body."""
    return hashlib.sha256(repr(req).encode("utf-8")).digest()


def signature(digest: bytes) -> str:
    return base64.b64encode(b"\x12\x0a" + digest[:30]).decode()


def synthesize(
    state: State, req: GenRequest, decision: faults.Decision, digest: bytes
) -> synth.GenResult:
    """The reply to `req`: what every front door and every Batch API line gets for the same request
    (text and token counts depend on the parsed request only; `digest` keys the thought signature)."""
    return synth.generate(
        req,
        synth.rng_for(state.config.seed, reply_key(req)),
        decision,
        signature(digest),
    )


async def serve(
    request: web.Request,
    state: State,
    door: Door,
    key: str,
    parse: Parse,
    write: Writer,
) -> web.StreamResponse:
    """The shared flow; `key` is the authenticated caller (for per-key limits)."""
    ledger = state.ledger
    config = state.config
    stat: BodyStat | None = None
    ledger.enter()
    status = "200"
    try:
        body = await read_body(request)
        digest = hashlib.sha256(body).digest()
        stat = ledger.body(digest, "")
        model, req = parse(parse_json(body))
        if not stat.excerpt:
            stat.excerpt = req.last_user_text[:80]
        text = (
            "\n".join(req.all_text)
            if len(req.all_text) > 1
            else (req.all_text[0] if req.all_text else "")
        )
        try:
            directives = faults.parse(text)
        except faults.DirectiveError as exc:
            raise invalid(str(exc)) from None
        if state.quotas.active:
            refusal = state.quotas.admit(
                key, model.id, req.prompt_tokens, time.monotonic()
            )
            if refusal is not None:
                raise quota_error(refusal, model.id, door.flavour, state.quotas)
        stat.admitted += 1
        decision = faults.decide(
            directives, stat.admitted, seed=config.seed, body_hash=digest, fault_rate=config.fault_rate,
            fault_mix=config.fault_mix, hang_s=config.hang_s, default_retry_s=config.fault_retry_s,
        )  # fmt: skip
        delay = (
            decision.latency_s
            if decision.latency_s is not None
            else base_latency(config, digest)
        )
        if decision.hang_s:
            await asyncio.sleep(decision.hang_s)
        if decision.reset:
            status = "reset"
            return reset(request)
        if decision.status:
            if delay:
                await asyncio.sleep(delay)
            raise fault_error(decision, door.flavour)
        res = synthesize(state, req, decision, digest)
        if config.ms_per_output_token:
            delay += (
                config.ms_per_output_token
                * (res.candidates_tokens + res.thoughts_tokens)
                / 1000.0
            )
        if delay > 0:
            await asyncio.sleep(delay)
        broken = decision.malformed or decision.truncated
        ledger.bill(
            res.prompt_tokens,
            res.text_tokens,
            res.thoughts_tokens,
            res.image_tokens,
            lost=broken,
        )
        if broken:
            status = "200-unusable"
        return await write(
            request, res, req, response_id(digest, stat.admitted), decision
        )
    except ApiError as err:
        status = str(err.code)
        return error_response(err, door.flavour)
    except asyncio.CancelledError:
        if status == "200":
            status = "client_closed"  # the client went away first (e.g. its timeout during a hang)
        raise
    finally:
        ledger.leave()
        ledger.record(door.route, status, stat)


def reset(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering (what a dropped connection looks like to the client)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError  # nothing to send; aiohttp drops the closed connection quietly


async def send_json(
    request: web.Request, payload: Any, decision: faults.Decision, status: int = 200
) -> web.StreamResponse:
    data = dumps(payload)
    if decision.malformed:
        data = (
            b'{"candidates": [{"content": {"parts": [{"text": "emulator malformed'
            + data[:32]
        )
    if decision.truncated:
        response = web.StreamResponse(
            status=status, headers={"Content-Type": "application/json; charset=UTF-8"}
        )
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        if request.transport is not None:
            request.transport.close()
        return response
    return web.Response(
        status=status, body=data, content_type="application/json", charset="UTF-8"
    )
