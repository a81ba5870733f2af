"""A Gemini generateContent body -> a validated `GenRequest` (or the 400 the service would send).

The OpenAI-compatible routes build the same `GenRequest` from a chat body (openai_request.py), so
both front doors share one generator.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import normalize as n
from .apierror import ApiError, invalid
from .genconfig import check_generation_config
from .media import (
    MAX_INLINE_PDF_BYTES,
    MediaError,
    MediaInfo,
    analyse,
    decode_base64,
    kind_of,
    sniff_ok,
)
from .models import ModelInfo

FileResolver = Callable[[str], MediaInfo]
# A generate body (camelCase top level) naming a cachedContent -> the body with the cache's contents,
# systemInstruction, tools and toolConfig merged in, and the cached tokens by modality (caches.py).
CacheResolver = Callable[
    [dict[str, Any], ModelInfo], tuple[dict[str, Any], dict[str, int]]
]


@dataclass(slots=True)
class GenRequest:
    """Everything the reply depends on, whichever API the request came through."""

    model: ModelInfo
    last_user_text: str = ""
    all_text: list[str] = field(default_factory=list)
    prompt_details: dict[str, int] = field(default_factory=dict)
    input_images: int = 0
    max_output: int | None = None
    thinking_level: str | None = None  # resolved level, or None when a budget decides
    thinking_budget: int | None = None
    include_thoughts: bool = False
    json_mode: bool = False
    enum_mode: bool = False
    schema: Any = None  # JSON Schema (OpenAPI schemas are converted)
    functions: dict[str, Any] = field(default_factory=dict)
    text_out: bool = True
    image_out: bool = False
    aspect_ratio: str = "1:1"
    image_size: str = "1K"
    image_dims: tuple[int, int] | None = (
        None  # an exact size (OpenAI `size`), else from ratio and size class
    )
    image_count: int = 1
    stop: list[str] = field(default_factory=list)
    # Context caching (not part of the reply key: a cached prefix gets the same reply as an inline one).
    source: Any = field(
        default=None, repr=False, compare=False
    )  # the generate body parsed (cache merged in)
    # tokens by modality of each part: the contents' parts in order, then the system instruction's
    part_tokens: list[dict[str, int]] = field(default_factory=list, repr=False)
    cache_details: dict[str, int] = field(default_factory=dict, repr=False)
    implicit_cache: bool = field(default=False, repr=False)

    @property
    def cached_tokens(self) -> int:
        return sum(self.cache_details.values())

    @property
    def prompt_tokens(self) -> int:
        return sum(self.prompt_details.values())


def text_tokens(text: str) -> int:
    """ceil(characters / 4): the emulator's (and the client's estimate's) token rule for text."""
    return math.ceil(len(text) / 4)


def parse_generate(
    body: Any,
    model: ModelInfo,
    resolve_file: FileResolver,
    *,
    top: frozenset[str] = n.REQUEST,
    resolve_cache: CacheResolver | None = None,
) -> GenRequest:
    """Validate a generateContent body the way the service does and extract what the reply needs."""
    req = n.fields(body, top, "")
    out = GenRequest(model)
    config = n.fields(
        req.get("generationConfig") or {}, n.GENERATION_CONFIG, "generation_config"
    )
    resolution = None
    if "mediaResolution" in config:
        resolution = n.enum(
            config["mediaResolution"], n.MEDIA_RESOLUTION_ENUM, "generation_config.media_resolution",
            "type.googleapis.com/google.ai.generativelanguage.v1beta.MediaResolution", "MEDIA_RESOLUTION_",
        )  # fmt: skip
    contents = req.get("contents")
    if not contents:
        raise invalid(
            "* GenerateContentRequest.contents: contents is not specified\n", "contents"
        )
    if req.get("cachedContent"):
        if resolve_cache is None:
            raise ApiError(403, "CachedContent not found (or permission denied)")
        req, out.cache_details = resolve_cache(req, model)
        contents = req["contents"]
    out.source = req
    for i, content in enumerate(n.as_list(contents, "contents")):
        _content(out, content, f"contents[{i}]", resolution, resolve_file)
    if req.get("systemInstruction") is not None:
        _content(
            out,
            req["systemInstruction"],
            "system_instruction",
            resolution,
            resolve_file,
            system=True,
        )
    for i, tool in enumerate(n.as_list(req.get("tools") or [], "tools")):
        _tool(out, tool, f"tools[{i}]")
    if req.get("toolConfig") is not None:
        tc = n.fields(req["toolConfig"], n.TOOL_CONFIG, "tool_config")
        fcc = tc.get("functionCallingConfig") or {}
        if isinstance(fcc, dict) and "mode" in fcc:
            n.enum(
                fcc["mode"],
                n.FUNCTION_MODE_ENUM,
                "tool_config.function_calling_config.mode",
                "FunctionCallingConfig.Mode",
            )
    for i, setting in enumerate(
        n.as_list(req.get("safetySettings") or [], "safetySettings")
    ):
        s = n.fields(setting, n.SAFETY_SETTING, f"safety_settings[{i}]")
        n.enum(
            s.get("category"),
            n.HARM_CATEGORY_ENUM,
            f"safety_settings[{i}].category",
            "HarmCategory",
        )
        n.enum(
            s.get("threshold"),
            n.HARM_THRESHOLD_ENUM,
            f"safety_settings[{i}].threshold",
            "HarmBlockThreshold",
        )
    check_generation_config(out, config)
    if model.max_input_images is not None and out.input_images > model.max_input_images:
        raise invalid(
            f"The request contains {out.input_images} images; {model.id} accepts at most "
            f"{model.max_input_images} input images.",
            "contents",
        )
    return out


def _content(
    out: GenRequest,
    content: Any,
    where: str,
    resolution: str | None,
    resolve_file: FileResolver,
    system: bool = False,
) -> None:
    c = n.fields(content, n.CONTENT, where)
    role = c.get("role", "user")
    if not system and role not in ("user", "model", "function", "tool", ""):
        raise invalid(
            f"Please use a valid role: user, model. (got {role!r} at '{where}.role')",
            f"{where}.role",
        )
    parts = n.as_list(c.get("parts") or [], f"{where}.parts")
    if not parts:
        raise invalid(
            f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n",
            f"{where}.parts",
        )
    details = out.prompt_details
    user_texts: list[str] = []
    for j, raw in enumerate(parts):
        pw = f"{where}.parts[{j}]"
        part = n.fields(raw, n.PART, pw)
        data = [k for k in n.PART_DATA if k in part]
        if not data or (data == ["text"] and part["text"] == ""):
            raise invalid(
                f"* GenerateContentRequest.{pw}.data: required oneof field 'data' must have one initialized field\n",
                pw,
            )
        if len(data) > 1:
            raise invalid(
                f"* GenerateContentRequest.{pw}.data: oneof field 'data' is already set. Cannot set '{data[1]}'\n",
                pw,
            )
        kind = data[0]
        before = None if kind == "text" else dict(details)  # for part_tokens
        part_res = resolution
        if (
            isinstance(part.get("mediaResolution"), dict)
            and "level" in part["mediaResolution"]
        ):
            part_res = n.enum(
                part["mediaResolution"]["level"],
                n.MEDIA_RESOLUTION_ENUM,
                f"{pw}.media_resolution.level",
                "MediaResolution",
                "MEDIA_RESOLUTION_",
            )
        if kind == "text":
            text = n.as_str(part["text"], f"{pw}.text")
            details["TEXT"] = details.get("TEXT", 0) + text_tokens(text)
            out.all_text.append(text)
            if role == "user" and not system and not part.get("thought"):
                user_texts.append(text)
        elif kind == "inlineData":
            info = _inline(
                n.fields(part["inlineData"], n.INLINE_DATA, f"{pw}.inline_data"),
                f"{pw}.inline_data",
            )
            _add_media(out, info, part_res)
        elif kind == "fileData":
            fd = n.fields(part["fileData"], n.FILE_DATA, f"{pw}.file_data")
            uri = n.as_str(fd.get("fileUri", ""), f"{pw}.file_data.file_uri")
            _add_media(out, resolve_file(uri), part_res)
        else:  # function calls and responses, code: their JSON as text
            details["TEXT"] = details.get("TEXT", 0) + text_tokens(
                json.dumps(part[kind], separators=(",", ":"))
            )
        out.part_tokens.append(
            {"TEXT": text_tokens(part["text"])}
            if before is None
            else {
                m: c - before.get(m, 0)
                for m, c in details.items()
                if c != before.get(m, 0)
            }
        )
    if user_texts:
        out.last_user_text = "\n".join(user_texts)


def _add_media(out: GenRequest, info: MediaInfo, resolution: str | None) -> None:
    details = out.prompt_details
    for modality, count in info.tokens(resolution).items():
        details[modality] = details.get(modality, 0) + count
    if info.kind == "IMAGE":
        out.input_images += 1


def _inline(blob: dict[str, Any], where: str) -> MediaInfo:
    mime = n.as_str(blob.get("mimeType", ""), f"{where}.mime_type").lower()
    if not mime:
        raise invalid(
            f"* GenerateContentRequest.{where}.mime_type: mime_type is not specified\n",
            f"{where}.mime_type",
        )
    if kind_of(mime) is None:
        raise invalid(f"Unsupported MIME type: {mime}", f"{where}.mime_type")
    data = blob.get("data")
    if not isinstance(data, str):
        raise n.bad_value(f"{where}.data", "TYPE_BYTES", data)
    try:
        raw = decode_base64(data)
    except MediaError:
        raise invalid(
            f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed for \"{data[:40]}\"",
            f"{where}.data",
        ) from None
    if not sniff_ok(mime, raw[:4096]):
        label = kind_of(mime)
        raise invalid(
            f"Unable to process input {label.lower() if label else 'data'}: the data is not a valid {mime} file.",
            f"{where}.data",
        )
    if mime == "application/pdf" and len(raw) > MAX_INLINE_PDF_BYTES:
        raise invalid(
            f"The inline PDF is {len(raw)} bytes; inline PDFs are limited to {MAX_INLINE_PDF_BYTES} bytes.",
            f"{where}.data",
        )
    try:
        return analyse(mime, raw, len(raw))
    except MediaError as exc:
        raise invalid(str(exc), f"{where}.data") from None


def _tool(out: GenRequest, tool: Any, where: str) -> None:
    t = n.fields(tool, n.TOOL, where)
    for k, decl in enumerate(
        n.as_list(t.get("functionDeclarations") or [], f"{where}.function_declarations")
    ):
        dw = f"{where}.function_declarations[{k}]"
        d = n.fields(decl, n.FUNCTION_DECLARATION, dw)
        name = d.get("name")
        if (
            not isinstance(name, str)
            or not name
            or len(name) > 64
            or not all(c.isalnum() or c in "_.-" for c in name)
        ):
            raise invalid(
                f"* GenerateContentRequest.{dw}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.) or dashes (-), with a maximum length of 64.\n",
                f"{dw}.name",
            )
        if d.get("parametersJsonSchema") is not None:
            schema = d["parametersJsonSchema"]
        else:
            from .schemagen import openapi_to_json_schema

            schema = openapi_to_json_schema(d.get("parameters") or {"type": "object"})
        out.functions[name] = schema
        details = out.prompt_details
        details["TEXT"] = details.get("TEXT", 0) + text_tokens(
            json.dumps(decl, separators=(",", ":"))
        )


def parse_count(
    body: Any,
    model: ModelInfo,
    resolve_file: FileResolver,
    *,
    resolve_cache: CacheResolver | None = None,
) -> GenRequest:
    """A countTokens body: `{"contents": [...]}` or `{"generateContentRequest": {...}}`."""
    req = n.fields(body, n.COUNT_TOKENS, "")
    if req.get("generateContentRequest") is not None:
        if req.get("contents"):
            raise invalid(
                "Only one of contents and generate_content_request can be set.",
                "contents",
            )
        return parse_generate(
            req["generateContentRequest"],
            model,
            resolve_file,
            resolve_cache=resolve_cache,
        )
    return parse_generate({"contents": req.get("contents")}, model, resolve_file)
