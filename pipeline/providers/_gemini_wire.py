"""The Gemini wire format, shared by AI Studio (`gemini.py`) and Vertex (`vertex.py`): request bodies and replies.

Bodies are built in a fixed key order and serialised compactly, so the same `Prompt` gives byte-identical
bodies on every attempt. Unset settings are left out rather than sent as null: the server's defaults apply.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pipeline.catalog import is_image_model
from pipeline.errors import ReplyInvalid
from pipeline.records import (
    GeneratedImage,
    GenerationSettings,
    Part,
    Prompt,
    Reply,
    ReplyStatus,
    Usage,
)

from ._schema import decode_reply_body, structured, to_int, to_json

# A candidate that ends with one of these was stopped by a safety or recitation filter: the row is `blocked`.
BLOCKING_FINISH_REASONS = frozenset(
    {
        "CONTENT_FILTER",  # OpenAI's name for all of them
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "IMAGE_PROHIBITED_CONTENT",
        "RECITATION",
        "IMAGE_RECITATION",
        "LANGUAGE",
        "MODEL_ARMOR",  # Vertex
    }
)

# The finishes of a reply that ended as asked; anything else with content in it is `failed` with its reason
# (MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS, MALFORMED_RESPONSE, OTHER, ...).
CLEAN_FINISH_REASONS = frozenset({"STOP", "FINISH_REASON_UNSPECIFIED"})

# A candidate that ends with one of these was asked for an image and made none: the row is `failed`, even when
# the spec did not set `response_modalities` (an image model's default is text and image).
NO_IMAGE_FINISH_REASONS = frozenset({"NO_IMAGE", "IMAGE_OTHER"})

MAX_TOKENS_MESSAGE = (
    "the model used all of max_output_tokens{limit} before it produced a reply (thinking counts against the "
    "limit); raise max_output_tokens or lower thinking_level, then run with --retry-failed"
)
MAX_TOKENS_CUT_MESSAGE = (
    "the reply was cut at max_output_tokens{limit} (its partial text is kept); raise max_output_tokens or lower "
    "thinking_level, then run with --retry-failed"
)
MAX_TOKENS_JSON_MESSAGE = (
    "the reply was cut at max_output_tokens{limit} before its JSON was complete; raise max_output_tokens, then "
    "run with --retry-failed"
)


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact, deterministic JSON bytes."""
    return to_json(body).encode("utf-8")


def generate_body(prompt: Prompt) -> dict[str, Any]:
    """The generateContent request body for `prompt`."""
    body: dict[str, Any] = {
        "contents": [
            {"role": "user", "parts": [part_json(part) for part in prompt.parts]}
        ]
    }
    cached = prompt.cached_content
    if cached:
        # The cache holds the system instruction and the tools; sending them too is a 400.
        body["cachedContent"] = cached
    elif prompt.system:
        body["systemInstruction"] = {"parts": [{"text": prompt.system}]}
    config = generation_config(prompt.generation)
    if config:
        body["generationConfig"] = config
    tools = [] if cached else tools_json(prompt.generation)
    if tools:
        body["tools"] = tools
    tool_config = {} if cached else tool_config_json(prompt.generation)
    if tool_config:  # with a cache it travels in the cache, as the tools do (sending it too is a 400)
        body["toolConfig"] = tool_config
    return body


def tool_config_json(settings: GenerationSettings) -> dict[str, Any]:
    """`toolConfig.functionCallingConfig` for `[generation] tool_config` (empty when not set)."""
    if settings.function_calling_mode is None:
        return {}
    config: dict[str, Any] = {"mode": settings.function_calling_mode}
    if settings.allowed_function_names:
        config["allowedFunctionNames"] = list(settings.allowed_function_names)
    return {"functionCallingConfig": config}


def requested_tier(settings: GenerationSettings) -> str | None:
    """The tier to ask for: "flex" or "priority"; None for standard (the default, so nothing is sent)."""
    tier = settings.service_tier
    return tier if tier in ("flex", "priority") else None


def part_json(part: Part) -> dict[str, Any]:
    if part.data is not None:
        data = base64.b64encode(part.data).decode("ascii")
        return {
            "inlineData": {
                "mimeType": part.mime_type or "application/octet-stream",
                "data": data,
            }
        }
    if part.file_uri is not None:
        return {
            "fileData": {
                "mimeType": part.mime_type or "application/octet-stream",
                "fileUri": part.file_uri,
            }
        }
    return {"text": part.text or ""}


def generation_config(settings: GenerationSettings) -> dict[str, Any]:
    config: dict[str, Any] = {}
    _put(config, "temperature", settings.temperature)
    _put(config, "topP", settings.top_p)
    _put(config, "topK", settings.top_k)
    _put(config, "maxOutputTokens", settings.max_output_tokens)
    _put(config, "seed", settings.seed)
    if settings.stop_sequences:
        config["stopSequences"] = list(settings.stop_sequences)
    thinking: dict[str, Any] = {}
    if settings.thinking_level:
        thinking["thinkingLevel"] = settings.thinking_level.upper()
    if settings.include_thoughts:
        thinking["includeThoughts"] = True
    if thinking:
        config["thinkingConfig"] = thinking
    mime = settings.response_mime_type or (
        "application/json" if settings.response_schema is not None else None
    )
    _put(config, "responseMimeType", mime)
    _put(config, "responseJsonSchema", settings.response_schema)
    if settings.response_modalities:
        config["responseModalities"] = [
            modality.upper() for modality in settings.response_modalities
        ]
    image: dict[str, Any] = {}
    _put(image, "aspectRatio", settings.image_aspect_ratio)
    _put(image, "imageSize", settings.image_size)
    if image:
        config["imageConfig"] = image
    if settings.media_resolution:
        config["mediaResolution"] = media_resolution(settings.media_resolution)
    return config


def media_resolution(value: str) -> str:
    """ "high" -> "MEDIA_RESOLUTION_HIGH"; the full enum name passes through."""
    upper = value.upper()
    return (
        upper if upper.startswith("MEDIA_RESOLUTION_") else f"MEDIA_RESOLUTION_{upper}"
    )


def tools_json(settings: GenerationSettings) -> list[dict[str, Any]]:
    """Function declarations. Their `parameters` are plain JSON Schema, which Gemini takes as
    `parametersJsonSchema` (its `parameters` field is an OpenAPI subset that refuses some JSON Schema)."""
    if not settings.tools:
        return []
    declarations = []
    for tool in settings.tools:
        declaration: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description"):
            declaration["description"] = tool["description"]
        if tool.get("parameters") is not None:
            declaration["parametersJsonSchema"] = tool["parameters"]
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}]


def wants_image(settings: GenerationSettings, model: str | None = None) -> bool:
    """Whether a reply must carry an image: IMAGE is among `response_modalities`, or none are set and `model`
    (when given) is an image model, whose default is text and image."""
    if settings.response_modalities or model is None:
        return any(
            modality.upper() == "IMAGE" for modality in settings.response_modalities
        )
    return is_image_model(model)


def usage_from(meta: object) -> Usage:
    """`usageMetadata` -> Usage. Zero counts are omitted on the wire, hence the defaults.

    `promptTokensDetails` / `cacheTokensDetails` ({modality, tokenCount} lists) become the usage's breakdown by
    lower-case modality; `candidatesTokensDetails`' IMAGE entries the image output tokens.
    """
    if not isinstance(meta, dict):
        return Usage()
    image_output = by_modality(meta.get("candidatesTokensDetails")) or {}
    return Usage(
        to_int(meta.get("promptTokenCount")),
        to_int(meta.get("candidatesTokenCount")),
        to_int(meta.get("thoughtsTokenCount")),
        to_int(meta.get("cachedContentTokenCount")),
        to_int(meta.get("totalTokenCount")),
        image_output.get("image", 0),
        by_modality(meta.get("promptTokensDetails")),
        by_modality(meta.get("cacheTokensDetails")),
    )


def by_modality(details: object) -> dict[str, int] | None:
    """A `*TokensDetails` list -> {modality: tokens} (lower-case names, repeated modalities summed); None when
    the reply has no such list. Entries without a modality or a count are skipped."""
    if not isinstance(details, list):
        return None
    counts: dict[str, int] = {}
    for detail in details:
        if not isinstance(detail, dict):
            continue
        modality = detail.get("modality")
        if not isinstance(modality, str) or not modality:
            continue
        name = modality.lower().removeprefix("modality_")
        counts[name] = counts.get(name, 0) + to_int(detail.get("tokenCount"))
    return counts


# Vertex's `usageMetadata.trafficType` in the Gemini API's tier names.
_TRAFFIC_TYPES = {
    "ON_DEMAND": "standard",
    "ON_DEMAND_FLEX": "flex",
    "ON_DEMAND_PRIORITY": "priority",
    "PROVISIONED_THROUGHPUT": "provisioned_throughput",
}


def service_tier(meta: object, header: str | None = None) -> str | None:
    """The tier a reply was served at: the `x-gemini-service-tier` header (the documented check for a Priority
    request downgraded to standard) first, then `usageMetadata.serviceTier` (Gemini API), then
    `usageMetadata.trafficType` (Vertex). Lower-case tier names ("standard", "flex", "priority"); None when the
    reply says nothing or "unspecified"."""
    for value in (header, meta.get("serviceTier") if isinstance(meta, dict) else None):
        if isinstance(value, str) and value.strip():
            name = value.strip().lower().removeprefix("service_tier_")
            return None if name == "unspecified" else name
    traffic = meta.get("trafficType") if isinstance(meta, dict) else None
    if isinstance(traffic, str) and traffic:
        upper = traffic.upper().removeprefix("TRAFFIC_TYPE_")
        if upper == "UNSPECIFIED":
            return None
        return _TRAFFIC_TYPES.get(upper, upper.lower())
    return None


def parse_reply(raw: bytes, prompt: Prompt, *, tier_header: str | None = None) -> Reply:
    """A 2xx generateContent body -> Reply; `tier_header` is the reply's `x-gemini-service-tier` header.

    :raises ReplyInvalid: TRUNCATED / INVALID_JSON (unreadable body), EMPTY_REPLY (no candidate and no
        block, or a candidate with nothing in it), INVALID_JSON / SCHEMA_MISMATCH (JSON was asked for and
        the text is not it).
    """
    return reply_from(decode_reply_body(raw), prompt, tier_header=tier_header)


def reply_from(doc: object, prompt: Prompt, *, tier_header: str | None = None) -> Reply:
    """A decoded GenerateContentResponse -> Reply (what `parse_reply` does after decoding; a batch result line
    carries the response already decoded)."""
    if not isinstance(doc, dict):
        raise ReplyInvalid("the reply is JSON but not an object", code="INVALID_JSON")
    usage = usage_from(doc.get("usageMetadata"))
    tier = service_tier(doc.get("usageMetadata"), tier_header)
    version = _str(doc.get("modelVersion"))
    feedback = doc.get("promptFeedback")
    block = _str(feedback.get("blockReason")) if isinstance(feedback, dict) else None
    if block is not None:
        server = (
            _str(feedback.get("blockReasonMessage"))
            if isinstance(feedback, dict)
            else None
        )
        message = server or f"the prompt was blocked ({block})"
        return Reply(
            "blocked",
            usage,
            model_version=version,
            error_code=block,
            error_message=message,
            service_tier=tier,
        )
    candidates = doc.get("candidates")
    if (
        not isinstance(candidates, list)
        or not candidates
        or not isinstance(candidates[0], dict)
    ):
        raise ReplyInvalid(
            "the reply has no candidates and no block reason",
            code="EMPTY_REPLY",
            usage=usage,
        )
    candidate = candidates[0]
    content = candidate.get("content")
    finish = _str(candidate.get("finishReason"))
    reply = _collect(
        content.get("parts") if isinstance(content, dict) else None,
        usage,
        finish_reason=finish,
        model_version=version,
        service_tier=tier,
    )
    return judge(
        reply,
        prompt.generation,
        finish,
        model=prompt.model,
        finish_message=_str(candidate.get("finishMessage")),
    )


def _collect(
    parts: object,
    usage: Usage,
    *,
    finish_reason: str | None,
    model_version: str | None,
    service_tier: str | None = None,
) -> Reply:
    """Text (thought parts left out), function calls and images from a candidate's parts."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    images: list[GeneratedImage] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        if (
            part.get("thought") is True
        ):  # a thought summary (include_thoughts): never part of the text
            if isinstance(part.get("text"), str):
                thoughts.append(part["text"])
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            calls.append({"name": call.get("name"), "args": call.get("args") or {}})
        elif isinstance(part.get("inlineData"), dict):
            images.append(_image(part["inlineData"], usage))
    return Reply(
        status="ok",
        usage=usage,
        text="".join(texts) or None,
        thoughts="".join(thoughts) or None,
        images=tuple(images),
        function_calls=to_json(calls) if calls else None,
        finish_reason=finish_reason,
        model_version=model_version,
        service_tier=service_tier,
    )


def judge(
    reply: Reply,
    settings: GenerationSettings,
    finish: str | None,
    *,
    model: str | None = None,
    finish_message: str | None = None,
) -> Reply:
    """Decide the status of a reply that parsed, from its content, what was asked, and `finish`: the finish
    reason in Gemini's names (the OpenAI-compatible parser maps its own to them; the reply keeps the original).
    `model` makes an image model's reply without an image fail even when no modalities were set;
    `finish_message` is the server's own explanation, kept in `error_message` whenever the row is not ok.

    ok: a clean finish (STOP) with content. truncated: MAX_TOKENS, partial content kept. blocked: a filter.
    failed: no image where one was asked for, or any other finish (MALFORMED_FUNCTION_CALL, OTHER, ...).
    A reply with nothing in it raises ReplyInvalid (retried), unless the limit cut it (retrying cannot help).
    """
    limit = f" ({settings.max_output_tokens})" if settings.max_output_tokens else ""

    def verdict(status: ReplyStatus, code: str | None, ours: str) -> Reply:
        message = f"{finish_message} ({ours})" if finish_message else ours
        return _with(reply, status, code, message)

    if finish in BLOCKING_FINISH_REASONS:
        return verdict(
            "blocked", finish, f"the reply was stopped by a filter ({finish})"
        )
    if not reply.images and (
        finish in NO_IMAGE_FINISH_REASONS or wants_image(settings, model)
    ):
        code = finish if finish not in (None, "STOP", "NO_IMAGE") else "NO_IMAGE"
        if finish == "MAX_TOKENS":
            return verdict("truncated", code, MAX_TOKENS_MESSAGE.format(limit=limit))
        message = (
            f"an image was asked for and the reply has none (finish reason {finish})"
        )
        return verdict("failed", code, message)
    if reply.text is None and reply.function_calls is None and not reply.images:
        if finish == "MAX_TOKENS":
            return verdict(
                "truncated", "MAX_TOKENS", MAX_TOKENS_MESSAGE.format(limit=limit)
            )
        raise ReplyInvalid(
            finish_message
            or f"the reply has no text, function call or image (finish reason {finish})",
            code=finish if finish not in (None, "STOP") else "EMPTY_REPLY",
            usage=reply.usage,
        )
    if finish == "MAX_TOKENS":
        # The same limit would cut it again: retrying only pays for the same failure. The partial text is kept.
        if settings.wants_json and reply.function_calls is None:
            return verdict(
                "truncated", "MAX_TOKENS", MAX_TOKENS_JSON_MESSAGE.format(limit=limit)
            )
        return verdict(
            "truncated", "MAX_TOKENS", MAX_TOKENS_CUT_MESSAGE.format(limit=limit)
        )
    if finish is not None and finish not in CLEAN_FINISH_REASONS:
        return verdict("failed", finish, f"the model stopped with {finish}")
    if settings.wants_json and reply.text is not None and reply.function_calls is None:
        return replace(
            reply,
            json=structured(reply.text, settings.response_schema, reply.usage),
        )
    return reply


def _image(inline: dict[str, Any], usage: Usage) -> GeneratedImage:
    return GeneratedImage(
        mime_type=str(inline.get("mimeType") or "application/octet-stream"),
        data=decode_image_base64(inline.get("data"), usage),
    )


def decode_image_base64(data: object, usage: Usage) -> bytes:
    """An image's base64 -> its bytes. The server sends standard base64; the urlsafe alphabet and missing
    padding are accepted too, as the API itself accepts them. An image is several MB: no copy of the text is
    made unless it needs translating or padding.

    :raises ReplyInvalid: INVALID_IMAGE, with the reply's usage (it was billed).
    """
    if not isinstance(data, str) or not data:
        raise ReplyInvalid(
            "an image in the reply has no data", code="INVALID_IMAGE", usage=usage
        )
    if "-" in data or "_" in data:
        data = data.translate(_URLSAFE)
    if len(data) % 4:
        data += "=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ReplyInvalid(
            "an image in the reply is not valid base64",
            code="INVALID_IMAGE",
            usage=usage,
        ) from None


_URLSAFE = str.maketrans("-_", "+/")


def _with(
    reply: Reply,
    status: ReplyStatus,
    code: str | None,
    message: str,
) -> Reply:
    return replace(reply, status=status, error_code=code, error_message=message)


def _put(target: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        target[key] = value


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def count_tokens_total(raw: bytes) -> int:
    doc = decode_reply_body(raw)
    if not isinstance(doc, dict):
        raise ReplyInvalid(
            "the countTokens reply is not a JSON object", code="INVALID_JSON"
        )
    return to_int(doc.get("totalTokens"))
