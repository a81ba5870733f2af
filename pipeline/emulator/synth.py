"""The synthetic reply: deterministic text, thoughts, JSON, function calls and images from a request.

Same request, same reply: every choice is drawn from a PRNG seeded with (seed, hash of the parsed
request), so the Gemini, Vertex and OpenAI-compatible doors agree (`flow.reply_key`). The text
starts with `Reply to "<first 60 characters of the last user text>":` so a reply can be traced to
its prompt. Thinking counts against maxOutputTokens, as on the real service: a small limit with a
high thinking level ends MAX_TOKENS with no parts.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from . import images, schemagen
from .faults import Decision
from .models import image_dimensions
from .request import GenRequest, text_tokens

_WORDS = [
    "the",
    "data",
    "shows",
    "a",
    "clear",
    "pattern",
    "across",
    "every",
    "sample",
    "we",
    "reviewed",
    "and",
    "the",
    "results",
    "suggest",
    "that",
    "further",
    "analysis",
    "would",
    "confirm",
    "this",
    "trend",
    "while",
    "costs",
    "remain",
    "stable",
    "over",
    "time",
    "given",
    "current",
    "assumptions",
    "about",
    "demand",
    "supply",
    "quality",
    "and",
    "growth",
    "in",
    "each",
    "region",
]
# One long deterministic filler, cut per reply: far cheaper than drawing words one by one.
_FILLER = " ".join(random.Random(0).choices(_WORDS, k=4000))
_FILLER_STARTS = [0] + [
    i + 1 for i, c in enumerate(_FILLER[: len(_FILLER) // 2]) if c == " "
]
_THOUGHT_RANGES = {
    "MINIMAL": (0, 0),
    "LOW": (100, 300),
    "MEDIUM": (400, 1000),
    "HIGH": (1000, 3000),
}


@dataclass(slots=True)
class GenResult:
    """A reply before it is put on the wire (Gemini or OpenAI shape)."""

    text: str = ""
    thought_text: str = ""
    function_call: dict[str, Any] | None = None
    image: bytes | None = None
    more_images: list[bytes] = field(default_factory=list)  # OpenAI `n` > 1
    image_size: tuple[int, int] = (0, 0)
    finish_reason: str = "STOP"
    block_reason: str | None = None
    safety_blocked: bool = False
    empty_content: bool = (
        False  # MAX_TOKENS with `content: {"role": "model"}` and no parts
    )
    prompt_tokens: int = 0
    prompt_details: dict[str, int] = field(default_factory=dict)
    text_tokens: int = 0
    image_tokens: int = 0
    thoughts_tokens: int = 0
    signature: str = ""
    service_tier: str = ""  # the tier served at (tiers.py); "" before it is decided
    cache_details: dict[str, int] = field(default_factory=dict)  # cached prompt tokens

    @property
    def cached_tokens(self) -> int:
        return sum(self.cache_details.values())

    @property
    def candidates_tokens(self) -> int:
        return self.text_tokens + self.image_tokens


def rng_for(seed: int, body_hash: bytes) -> random.Random:
    return random.Random(
        int.from_bytes(body_hash[:8], "big") ^ (seed * 0x9E3779B97F4A7C15 & (2**64 - 1))
    )


def generate(
    req: GenRequest, rng: random.Random, decision: Decision, signature: str
) -> GenResult:
    """The reply for `req`, shaped by the reply directives in `decision`."""
    res = GenResult(
        prompt_tokens=req.prompt_tokens,
        prompt_details=req.prompt_details,
        signature=signature,
    )
    if decision.block:
        res.block_reason = decision.block
        return res
    res.thoughts_tokens = _thoughts(req, rng)
    budget = req.max_output
    if budget is not None and res.thoughts_tokens >= budget:
        res.thoughts_tokens = budget
        decision = Decision(max_tokens=True)
    if decision.max_tokens:
        res.finish_reason, res.empty_content = "MAX_TOKENS", True
        return res
    if decision.finish:
        res.finish_reason, res.safety_blocked, res.empty_content = (
            decision.finish,
            True,
            True,
        )
        return res
    if req.include_thoughts and res.thoughts_tokens:
        res.thought_text = f'**Planning the answer**\n\nI read the request about "{_excerpt(req.last_user_text, 40)}" and outline a reply.'
    room = None if budget is None else budget - res.thoughts_tokens
    call = _function_call(req, rng)
    if call is not None:
        res.function_call = call
        res.text_tokens = text_tokens(json.dumps(call, separators=(",", ":")))
        return res
    if req.image_out:
        _image(req, res, rng, decision)
    if req.text_out or not req.image_out:
        res.text = _text(req, rng, decision)
        for stop in req.stop:
            cut = res.text.find(stop)
            if cut >= 0:
                res.text = res.text[:cut]
        res.text_tokens = text_tokens(res.text)
        if room is not None and res.text_tokens + res.image_tokens > room:
            keep = max(0, room - res.image_tokens)
            res.text = res.text[: keep * 4]
            res.text_tokens = text_tokens(res.text)
            res.finish_reason = "MAX_TOKENS"
    return res


def _thoughts(req: GenRequest, rng: random.Random) -> int:
    if req.thinking_budget is not None:
        return (
            rng.randint(max(1, req.thinking_budget // 4), req.thinking_budget)
            if req.thinking_budget > 0
            else 0
        )
    low, high = _THOUGHT_RANGES.get(req.thinking_level or "", (0, 0))
    return rng.randint(low, high) if high else 0


def _excerpt(text: str, n: int) -> str:
    return " ".join(text.split())[:n]


def _text(req: GenRequest, rng: random.Random, decision: Decision) -> str:
    if req.json_mode or req.enum_mode:
        schema = req.schema
        if decision.json_invalid:
            value: Any = schemagen.invalid_for(schema)
        elif schema is None:
            value = {"reply": f"Reply to {_excerpt(req.last_user_text, 60)!r}"}
        else:
            value = schemagen.generate(schema, rng)
        if req.enum_mode:
            return str(value)
        return json.dumps(value, ensure_ascii=False)
    start = _FILLER_STARTS[rng.randrange(len(_FILLER_STARTS))]
    end = _FILLER.find(" ", start + rng.randint(20, 200) * 4)  # 20-200 tokens of filler
    return f'Reply to "{_excerpt(req.last_user_text, 60)}": {_FILLER[start:end]}.'


def _function_call(req: GenRequest, rng: random.Random) -> dict[str, Any] | None:
    if not req.functions or "call:" not in req.last_user_text:
        return None
    for name, schema in req.functions.items():
        if f"call:{name}" in req.last_user_text:
            args = schemagen.generate(schema, rng) if schema else {}
            return {"name": name, "args": args if isinstance(args, dict) else {}}
    return None


def _image(
    req: GenRequest, res: GenResult, rng: random.Random, decision: Decision
) -> None:
    if decision.image_safety or decision.no_image:
        res.finish_reason = "IMAGE_SAFETY" if decision.image_safety else "NO_IMAGE"
        return
    width, height = req.image_dims or image_dimensions(req.aspect_ratio, req.image_size)
    colour = rng.randrange(1 << 16)
    res.image = images.jpeg(width, height, colour)
    res.more_images = [
        images.jpeg(width, height, colour + i) for i in range(1, req.image_count)
    ]
    res.image_size = (width, height)
    res.image_tokens = req.model.image_token_count(req.image_size) * req.image_count
