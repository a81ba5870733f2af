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
from .media import MAX_INLINE_PDF_BYTES, MediaError, MediaInfo, analyse, decode_base64, kind_of, sniff_ok
from .models import ModelInfo

FileResolver = Callable[[str], MediaInfo]


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
    image_dims: tuple[int, int] | None = None  # an exact size (OpenAI `size`), else from ratio and size class
    image_count: int = 1
    stop: list[str] = field(default_factory=list)

    @property
    def prompt_tokens(self) -> int:
        return sum(self.prompt_details.values())


def text_tokens(text: str) -> int:
    """ceil(characters / 4): the emulator's (and the client's estimate's) token rule for text."""
    return math.ceil(len(text) / 4)


def parse_generate(body: Any, model: ModelInfo, resolve_file: FileResolver, *, top: frozenset[str] = n.REQUEST) -> GenRequest:
    """Validate a generateContent body the way the service does and extract what the reply needs."""
    req = n.fields(body, top, "")
    out = GenRequest(model)
    config = n.fields(req.get("generationConfig") or {}, n.GENERATION_CONFIG, "generation_config")
    resolution = None
    if "mediaResolution" in config:
        resolution = n.enum(
            config["mediaResolution"], n.MEDIA_RESOLUTION_ENUM, "generation_config.media_resolution",
            "type.googleapis.com/google.ai.generativelanguage.v1beta.MediaResolution", "MEDIA_RESOLUTION_",
        )  # fmt: skip
    contents = req.get("contents")
    if not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified\n", "contents")
    for i, content in enumerate(n.as_list(contents, "contents")):
        _content(out, content, f"contents[{i}]", resolution, resolve_file)
    if req.get("systemInstruction") is not None:
        _content(out, req["systemInstruction"], "system_instruction", resolution, resolve_file, system=True)
    if req.get("cachedContent"):
        raise ApiError(403, f"CachedContent not found (or permission denied): {req['cachedContent']}")
    for i, tool in enumerate(n.as_list(req.get("tools") or [], "tools")):
        _tool(out, tool, f"tools[{i}]")
    if req.get("toolConfig") is not None:
        tc = n.fields(req["toolConfig"], n.TOOL_CONFIG, "tool_config")
        fcc = tc.get("functionCallingConfig") or {}
        if isinstance(fcc, dict) and "mode" in fcc:
            n.enum(fcc["mode"], n.FUNCTION_MODE_ENUM, "tool_config.function_calling_config.mode", "FunctionCallingConfig.Mode")
    for i, setting in enumerate(n.as_list(req.get("safetySettings") or [], "safetySettings")):
        s = n.fields(setting, n.SAFETY_SETTING, f"safety_settings[{i}]")
        n.enum(s.get("category"), n.HARM_CATEGORY_ENUM, f"safety_settings[{i}].category", "HarmCategory")
        n.enum(s.get("threshold"), n.HARM_THRESHOLD_ENUM, f"safety_settings[{i}].threshold", "HarmBlockThreshold")
    _generation_config(out, config)
    if model.max_input_images is not None and out.input_images > model.max_input_images:
        raise invalid(
            f"The request contains {out.input_images} images; {model.id} accepts at most "
            f"{model.max_input_images} input images.",
            "contents",
        )
    return out


def _content(out: GenRequest, content: Any, where: str, resolution: str | None, resolve_file: FileResolver, system: bool = False) -> None:
    c = n.fields(content, n.CONTENT, where)
    role = c.get("role", "user")
    if not system and role not in ("user", "model", "function", "tool", ""):
        raise invalid(f"Please use a valid role: user, model. (got {role!r} at '{where}.role')", f"{where}.role")
    parts = n.as_list(c.get("parts") or [], f"{where}.parts")
    if not parts:
        raise invalid(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n", f"{where}.parts")
    details = out.prompt_details
    user_texts: list[str] = []
    for j, raw in enumerate(parts):
        pw = f"{where}.parts[{j}]"
        part = n.fields(raw, n.PART, pw)
        data = [k for k in n.PART_DATA if k in part]
        if not data or (data == ["text"] and part["text"] == ""):
            raise invalid(f"* GenerateContentRequest.{pw}.data: required oneof field 'data' must have one initialized field\n", pw)
        if len(data) > 1:
            raise invalid(f"* GenerateContentRequest.{pw}.data: oneof field 'data' is already set. Cannot set '{data[1]}'\n", pw)
        kind = data[0]
        part_res = resolution
        if isinstance(part.get("mediaResolution"), dict) and "level" in part["mediaResolution"]:
            part_res = n.enum(part["mediaResolution"]["level"], n.MEDIA_RESOLUTION_ENUM, f"{pw}.media_resolution.level", "MediaResolution", "MEDIA_RESOLUTION_")
        if kind == "text":
            text = n.as_str(part["text"], f"{pw}.text")
            details["TEXT"] = details.get("TEXT", 0) + text_tokens(text)
            out.all_text.append(text)
            if role == "user" and not system and not part.get("thought"):
                user_texts.append(text)
        elif kind == "inlineData":
            info = _inline(n.fields(part["inlineData"], n.INLINE_DATA, f"{pw}.inline_data"), f"{pw}.inline_data")
            _add_media(out, info, part_res)
        elif kind == "fileData":
            fd = n.fields(part["fileData"], n.FILE_DATA, f"{pw}.file_data")
            uri = n.as_str(fd.get("fileUri", ""), f"{pw}.file_data.file_uri")
            _add_media(out, resolve_file(uri), part_res)
        else:  # function calls and responses, code: their JSON as text
            details["TEXT"] = details.get("TEXT", 0) + text_tokens(json.dumps(part[kind], separators=(",", ":")))
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
        raise invalid(f"* GenerateContentRequest.{where}.mime_type: mime_type is not specified\n", f"{where}.mime_type")
    if kind_of(mime) is None:
        raise invalid(f"Unsupported MIME type: {mime}", f"{where}.mime_type")
    data = blob.get("data")
    if not isinstance(data, str):
        raise n.bad_value(f"{where}.data", "TYPE_BYTES", data)
    try:
        raw = decode_base64(data)
    except MediaError:
        raise invalid(f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed for \"{data[:40]}\"", f"{where}.data") from None
    if not sniff_ok(mime, raw[:4096]):
        label = kind_of(mime)
        raise invalid(f"Unable to process input {label.lower() if label else 'data'}: the data is not a valid {mime} file.", f"{where}.data")
    if mime == "application/pdf" and len(raw) > MAX_INLINE_PDF_BYTES:
        raise invalid(f"The inline PDF is {len(raw)} bytes; inline PDFs are limited to {MAX_INLINE_PDF_BYTES} bytes.", f"{where}.data")
    try:
        return analyse(mime, raw, len(raw))
    except MediaError as exc:
        raise invalid(str(exc), f"{where}.data") from None


def _tool(out: GenRequest, tool: Any, where: str) -> None:
    t = n.fields(tool, n.TOOL, where)
    for k, decl in enumerate(n.as_list(t.get("functionDeclarations") or [], f"{where}.function_declarations")):
        dw = f"{where}.function_declarations[{k}]"
        d = n.fields(decl, n.FUNCTION_DECLARATION, dw)
        name = d.get("name")
        if not isinstance(name, str) or not name or len(name) > 64 or not all(c.isalnum() or c in "_.-" for c in name):
            raise invalid(f"* GenerateContentRequest.{dw}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.) or dashes (-), with a maximum length of 64.\n", f"{dw}.name")
        if d.get("parametersJsonSchema") is not None:
            schema = d["parametersJsonSchema"]
        else:
            from .schemagen import openapi_to_json_schema

            schema = openapi_to_json_schema(d.get("parameters") or {"type": "object"})
        out.functions[name] = schema
        details = out.prompt_details
        details["TEXT"] = details.get("TEXT", 0) + text_tokens(json.dumps(decl, separators=(",", ":")))


def _generation_config(out: GenRequest, config: dict[str, Any]) -> None:
    model = out.model
    w = "generation_config"
    if "temperature" in config and not 0.0 <= n.as_float(config["temperature"], f"{w}.temperature") <= 2.0:
        raise invalid(f"Unable to submit request because it has a temperature value of {config['temperature']} but the supported range is from 0 (inclusive) to 2.0001 (exclusive). Update the value and try again.", f"{w}.temperature")
    if "topP" in config and not 0.0 <= n.as_float(config["topP"], f"{w}.top_p") <= 1.0:
        raise invalid(f"Unable to submit request because it has a topP value of {config['topP']} but the supported range is from 0 (inclusive) to 1.0001 (exclusive). Update the value and try again.", f"{w}.top_p")
    for key in ("topK", "seed", "logprobs"):
        if key in config:
            n.as_int(config[key], f"{w}.{n.snake(key)}")
    if "candidateCount" in config and n.as_int(config["candidateCount"], f"{w}.candidate_count") != 1:
        raise invalid("Multiple candidates is not enabled for this model.", f"{w}.candidate_count")
    if "maxOutputTokens" in config:
        value = n.as_int(config["maxOutputTokens"], f"{w}.max_output_tokens")
        if not 1 <= value <= model.output_limit:
            raise invalid(f"Unable to submit request because it has a maxOutputTokens value of {value} but the supported range is from 1 (inclusive) to {model.output_limit + 1} (exclusive). Update the value and try again.", f"{w}.max_output_tokens")
        out.max_output = value
    stops = n.as_list(config.get("stopSequences") or [], f"{w}.stop_sequences")
    if len(stops) > 5:
        raise invalid("Unable to submit request because it has more than 5 stop sequences.", f"{w}.stop_sequences")
    out.stop = [n.as_str(s, f"{w}.stop_sequences") for s in stops]
    _thinking(out, n.fields(config.get("thinkingConfig") or {}, n.THINKING_CONFIG, f"{w}.thinking_config"))
    _output_format(out, config)
    modalities = [n.enum(m, n.MODALITY_ENUM, f"{w}.response_modalities", "Modality") for m in n.as_list(config.get("responseModalities") or [], f"{w}.response_modalities")]
    if modalities:
        unsupported = [m for m in modalities if m == "AUDIO" or (m == "IMAGE" and not model.image_out)]
        if unsupported:
            raise invalid(f"Model does not support the requested response modalities: {', '.join(m.lower() for m in unsupported)}", f"{w}.response_modalities")
        out.text_out = "TEXT" in modalities
        out.image_out = "IMAGE" in modalities
    else:
        out.image_out = model.image_out
    if config.get("imageConfig") is not None:
        ic = n.fields(config["imageConfig"], n.IMAGE_CONFIG, f"{w}.image_config")
        if model.image_out:
            ratio = ic.get("aspectRatio", "1:1")
            if ratio not in model.aspect_ratios:
                raise invalid(f"Unsupported aspect ratio: {ratio}. Supported values are {', '.join(model.aspect_ratios)}.", f"{w}.image_config.aspect_ratio")
            size = ic.get("imageSize", "1K")
            if size not in model.image_sizes:  # case-sensitive on purpose: "1k" is refused, as the service does
                raise invalid(f"Unsupported image size: {size}. Supported values are {', '.join(model.image_sizes)}.", f"{w}.image_config.image_size")
            out.aspect_ratio, out.image_size = ratio, size


def _thinking(out: GenRequest, tc: dict[str, Any]) -> None:
    model = out.model
    w = "generation_config.thinking_config"
    if "includeThoughts" in tc:
        out.include_thoughts = n.as_bool(tc["includeThoughts"], f"{w}.include_thoughts")
    has_level = tc.get("thinkingLevel") is not None
    has_budget = tc.get("thinkingBudget") is not None
    if has_level and has_budget:
        raise invalid("You can only set one of thinking budget and thinking level. Please remove one of them and try again.", w)
    out.thinking_level = model.default_level
    if has_level:
        level = n.enum(tc["thinkingLevel"], n.THINKING_LEVEL_ENUM, f"{w}.thinking_level", "type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel")
        if level != "THINKING_LEVEL_UNSPECIFIED":
            if level not in model.thinking_levels:
                raise invalid(f"Thinking level {level} is not supported for this model. Please retry with other thinking level", f"{w}.thinking_level")
            out.thinking_level = level
    elif has_budget:
        budget = n.as_int(tc["thinkingBudget"], f"{w}.thinking_budget")
        if budget == 0 and not model.can_disable_thinking and "MINIMAL" not in model.thinking_levels:
            raise invalid("Budget 0 is invalid. This model only works in thinking mode.", f"{w}.thinking_budget")
        if budget < -1 or budget > 32768:
            raise invalid(f"The thinking budget {budget} is invalid. Please choose a value between 128 and 32768.", f"{w}.thinking_budget")
        if budget != -1:
            out.thinking_level, out.thinking_budget = None, budget


def _output_format(out: GenRequest, config: dict[str, Any]) -> None:
    w = "generation_config"
    mime = config.get("responseMimeType", "text/plain")
    if mime not in n.RESPONSE_MIME_TYPES:
        raise invalid(f"* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `text/x.enum`. Got: {mime}\n", f"{w}.response_mime_type")
    has_schema = config.get("responseSchema") is not None
    has_json_schema = config.get("responseJsonSchema") is not None
    if has_schema and has_json_schema:
        raise invalid("Only one of response_schema and response_json_schema can be set.", f"{w}.response_schema")
    if (has_schema or has_json_schema) and mime == "text/plain":
        raise invalid("* GenerateContentRequest.generation_config.response_mime_type: For response_mime_type text/plain, response_schema and response_json_schema must not be set.\n", f"{w}.response_mime_type")
    out.json_mode = mime == "application/json"
    out.enum_mode = mime == "text/x.enum"
    if has_json_schema:
        out.schema = config["responseJsonSchema"]
    elif has_schema:
        from .schemagen import openapi_to_json_schema

        out.schema = openapi_to_json_schema(config["responseSchema"])
    if out.enum_mode and not (isinstance(out.schema, dict) and out.schema.get("enum")):
        raise invalid("* GenerateContentRequest.generation_config.response_schema: text/x.enum requires a schema with an enum.\n", f"{w}.response_schema")
    if out.schema is not None and not isinstance(out.schema, (dict, bool)):
        raise n.bad_value(f"{w}.response_schema", "Schema", out.schema)


def parse_count(body: Any, model: ModelInfo, resolve_file: FileResolver) -> GenRequest:
    """A countTokens body: `{"contents": [...]}` or `{"generateContentRequest": {...}}`."""
    req = n.fields(body, n.COUNT_TOKENS, "")
    if req.get("generateContentRequest") is not None:
        if req.get("contents"):
            raise invalid("Only one of contents and generate_content_request can be set.", "contents")
        return parse_generate(req["generateContentRequest"], model, resolve_file)
    return parse_generate({"contents": req.get("contents")}, model, resolve_file)
