"""An OpenAI chat-completions or images body -> the Gemini body the service would run, then a GenRequest.

Translating into the Gemini wire format (and validating there) is what the real compatibility
layer does, so limits such as maxOutputTokens or thinking levels are checked once, the same way.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from .apierror import ApiError, invalid
from .files import FileStore
from .models import OPENAI_ALIASES, THINKING_LEVELS, ModelInfo, lookup
from .request import CacheResolver, GenRequest, parse_generate

_EFFORTS = ("minimal", "low", "medium", "high")
_AUDIO_FORMATS = {
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "mpeg": "audio/mp3",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "aiff": "audio/aiff",
}


def resolve_model(name: Any, flavour: str) -> tuple[ModelInfo, str | None]:
    """The model answering `name`, and the thinking level an alias forces."""
    if not isinstance(name, str) or not name:
        raise invalid("you must provide a model parameter", "model")
    plain = (
        name.removeprefix("google/")
        if flavour == "openai"
        else name.removeprefix("models/")
    )
    if flavour == "openai" and plain in OPENAI_ALIASES:
        alias = OPENAI_ALIASES[plain]
        target = lookup(alias.openai_alias_of or "")
        if target is not None:
            return target, alias.default_level
    model = lookup(plain)
    if model is None:
        if flavour == "openai":
            raise ApiError(
                404,
                f"The model `{name}` does not exist or you do not have access to it.",
                param="model",
                openai_code="model_not_found",
            )
        raise ApiError(
            404,
            f"models/{plain} is not found for API version v1main, or is not supported for generateContent. Call ModelService.ListModels to see the list of available models and their supported methods.",
        )
    return model, None


def effort_level(effort: Any, model: ModelInfo) -> str:
    """reasoning_effort -> thinking level per the compatibility table (the closest level the model has)."""
    if effort == "none":
        if "MINIMAL" in model.thinking_levels:
            return "MINIMAL"
        raise invalid(
            f"Thinking can't be disabled for {model.id}: reasoning_effort none is not supported.",
            "reasoning_effort",
        )
    if effort not in _EFFORTS:
        raise invalid(
            f"Invalid reasoning_effort: {effort}. Valid values are: high, low, medium, minimal, none",
            "reasoning_effort",
        )
    wanted = THINKING_LEVELS.index(str(effort).upper())
    for level in THINKING_LEVELS[wanted:]:
        if level in model.thinking_levels:
            return level
    return model.thinking_levels[-1]


def _google_extras(body: dict[str, Any]) -> dict[str, Any]:
    extra = body.get("extra_body")
    google = extra.get("google") if isinstance(extra, dict) else None
    if google is None:
        google = body.get("google")
    if google is not None and not isinstance(google, dict):
        raise invalid("extra_body.google must be an object", "extra_body")
    return google or {}


def chat_request(
    body: Any,
    flavour: str,
    files: FileStore,
    *,
    caches: CacheResolver | None = None,
) -> tuple[ModelInfo, GenRequest]:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    model, forced = resolve_model(body.get("model"), flavour)
    google = _google_extras(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must be a non-empty array", "messages")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages[{i}] must be an object", f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content"), f"messages[{i}]"))
        elif role == "user":
            contents.append(
                {
                    "role": "user",
                    "parts": _parts(message.get("content"), f"messages[{i}]"),
                }
            )
        elif role == "assistant":
            parts = _parts(message.get("content"), f"messages[{i}]", allow_empty=True)
            for call in message.get("tool_calls") or []:
                fn = call.get("function") or {}
                parts.append(
                    {
                        "functionCall": {
                            "name": fn.get("name", ""),
                            "args": {"arguments": fn.get("arguments", "")},
                        }
                    }
                )
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            contents.append(
                {
                    "role": "user",
                    "parts": [
                        {
                            "functionResponse": {
                                "name": str(message.get("tool_call_id", "tool")),
                                "response": {"content": message.get("content")},
                            }
                        }
                    ],
                }
            )
        else:
            raise invalid(
                f"Invalid value for messages[{i}].role: {role!r}", f"messages[{i}].role"
            )
    config: dict[str, Any] = dict(google.get("generation_config") or {})
    for src, dst in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(src) is not None:
            config[dst] = body[src]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    if body.get("n") not in (None, 1):
        raise invalid("Only n=1 is supported.", "n")
    stop = body.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (
            (fmt.get("json_schema") or {}).get("schema")
            if fmt["type"] == "json_schema"
            else None
        )
        if schema is not None:
            config["responseJsonSchema"] = schema
    if body.get("modalities"):
        config["responseModalities"] = [str(m).upper() for m in body["modalities"]]
    thinking = google.get("thinking_config")
    effort = body.get("reasoning_effort")
    if thinking is not None and effort is not None:
        raise invalid(
            "reasoning_effort and thinking_config are mutually exclusive; set only one.",
            "reasoning_effort",
        )
    if forced is not None:
        config["thinkingConfig"] = {"thinkingLevel": forced}
    elif effort is not None:
        config["thinkingConfig"] = {"thinkingLevel": effort_level(effort, model)}
    elif thinking is not None:
        config["thinkingConfig"] = thinking
    if google.get("image_config") is not None:
        config["imageConfig"] = google["image_config"]
    gemini: dict[str, Any] = {"contents": contents, "generationConfig": config}
    if system:
        gemini["systemInstruction"] = {"parts": system}
    tools = [
        t.get("function")
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    if tools:
        gemini["tools"] = [{"functionDeclarations": [
            {"name": f.get("name"), "description": f.get("description", ""), "parametersJsonSchema": f.get("parameters") or {"type": "object"}}
            for f in tools if isinstance(f, dict)
        ]}]  # fmt: skip
    for key in ("safety_settings", "cached_content"):
        if google.get(key) is not None:
            gemini[key] = google[key]
    return model, parse_generate(gemini, model, files.resolve, resolve_cache=caches)


def _parts(content: Any, where: str, allow_empty: bool = False) -> list[dict[str, Any]]:
    if content is None and allow_empty:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content or not allow_empty else []
    if not isinstance(content, list):
        raise invalid(
            f"{where}.content must be a string or an array of content parts",
            f"{where}.content",
        )
    parts: list[dict[str, Any]] = []
    for j, item in enumerate(content):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text":
            parts.append({"text": item.get("text", "")})
        elif kind == "image_url":
            url = (item.get("image_url") or {}).get("url", "")
            parts.append(
                {"inlineData": _data_url(url, f"{where}.content[{j}].image_url.url")}
            )
        elif kind == "input_audio":
            audio = item.get("input_audio") or {}
            mime = _AUDIO_FORMATS.get(
                str(audio.get("format", "wav")).lower(), f"audio/{audio.get('format')}"
            )
            parts.append(
                {"inlineData": {"mimeType": mime, "data": audio.get("data", "")}}
            )
        elif kind == "file":
            file = item.get("file") or {}
            data = file.get("file_data", "")
            if isinstance(data, str) and data.startswith("data:"):
                parts.append(
                    {
                        "inlineData": _data_url(
                            data, f"{where}.content[{j}].file.file_data"
                        )
                    }
                )
            else:
                mime = (
                    mimetypes.guess_type(file.get("filename") or "")[0]
                    or "application/octet-stream"
                )
                parts.append({"inlineData": {"mimeType": mime, "data": data}})
        else:
            raise invalid(
                f"Invalid content part type at {where}.content[{j}]: {kind!r}",
                f"{where}.content[{j}].type",
            )
    return parts


def _data_url(url: str, where: str) -> dict[str, str]:
    if not url.startswith("data:") or ";base64," not in url:
        raise invalid(
            f"Only base64 data URLs are supported by the emulator (no network access): {where}",
            where,
        )
    head, _, data = url.partition(";base64,")
    return {"mimeType": head[5:] or "application/octet-stream", "data": data}


def images_request(
    body: Any, flavour: str, files: FileStore
) -> tuple[ModelInfo, GenRequest, str]:
    """An images/generations body; returns the model, the request and the response_format."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    model, _ = resolve_model(body.get("model"), flavour)
    if not model.image_out:
        raise invalid(f"Model {model.id} does not support image generation.", "model")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise invalid("prompt must be a non-empty string", "prompt")
    count = body.get("n", 1)
    if not isinstance(count, int) or not 1 <= count <= 10:
        raise invalid("n must be an integer between 1 and 10", "n")
    google = _google_extras(body)
    image_config = dict(google.get("image_config") or {})
    if google.get("aspect_ratio"):
        image_config["aspect_ratio"] = google["aspect_ratio"]
    dims = _size(body.get("size"))
    if dims is not None and not image_config.get("image_size"):
        side = max(dims)
        image_config["image_size"] = (
            "1K" if side <= 1600 else "2K" if side <= 3200 else "4K"
        )
        if image_config["image_size"] not in model.image_sizes:
            image_config["image_size"] = model.image_sizes[-1]
    gemini = {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": image_config,
        },
    }
    req = parse_generate(gemini, model, files.resolve)
    req.image_dims, req.image_count = dims, count
    fmt = body.get("response_format") or "b64_json"
    if fmt not in ("b64_json", "url"):
        raise invalid(
            f"Invalid response_format: {fmt}. Use b64_json or url.", "response_format"
        )
    return model, req, fmt


def _size(size: Any) -> tuple[int, int] | None:
    if size in (None, "auto"):
        return None
    if isinstance(size, str) and "x" in size:
        w, _, h = size.partition("x")
        if (
            w.isdigit()
            and h.isdigit()
            and 64 <= int(w) <= 8192
            and 64 <= int(h) <= 8192
        ):
            return int(w), int(h)
    raise invalid(
        f"Invalid size: {size!r}. Use WIDTHxHEIGHT, e.g. 1024x1024, or auto.", "size"
    )
