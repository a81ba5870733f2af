"""Proto-JSON leniency as the service applies it: snake_case or camelCase keys, numbers as strings,
enum names in any case; and the known field names of every message, so unknown ones get a 400.
"""

from __future__ import annotations

from typing import Any

from .apierror import bad_value, invalid, unknown_field

__all__ = (
    "CONTENT",
    "COUNT_TOKENS",
    "FILE_DATA",
    "FUNCTION_DECLARATION",
    "FUNCTION_MODE_ENUM",
    "GENERATION_CONFIG",
    "HARM_CATEGORY_ENUM",
    "HARM_THRESHOLD_ENUM",
    "IMAGE_CONFIG",
    "INLINE_DATA",
    "MEDIA_RESOLUTION_ENUM",
    "MODALITY_ENUM",
    "PART",
    "PART_DATA",
    "REQUEST",
    "RESPONSE_MIME_TYPES",
    "SAFETY_SETTING",
    "THINKING_CONFIG",
    "THINKING_LEVEL_ENUM",
    "TOOL",
    "TOOL_CONFIG",
    "as_bool",
    "as_float",
    "as_int",
    "as_list",
    "as_str",
    "camel",
    "enum",
    "fields",
    "snake",
)

_CAMEL: dict[str, str] = {}


def camel(key: str) -> str:
    found = _CAMEL.get(key)
    if found is None:
        if "_" in key:
            head, *rest = key.split("_")
            found = head + "".join(p[:1].upper() + p[1:] for p in rest)
        else:
            found = key
        if len(_CAMEL) < 4096:
            _CAMEL[key] = found
    return found


def snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def fields(obj: Any, allowed: frozenset[str], where: str) -> dict[str, Any]:
    """`obj` with camelCase keys; a 400 for a non-object or a key the message does not have."""
    if not isinstance(obj, dict):
        raise bad_value(where, "object", obj)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = camel(key)
        if name not in allowed:
            raise unknown_field(key, where)
        out[name] = value
    return out


def as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise bad_value(where, "TYPE_INT32", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise bad_value(where, "TYPE_INT32", value)


def as_float(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise bad_value(where, "TYPE_FLOAT", value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise bad_value(where, "TYPE_FLOAT", value)


def as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise bad_value(where, "TYPE_BOOL", value)


def as_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise bad_value(where, "TYPE_STRING", value)
    return value


def as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(
            f"Invalid value at '{where}': expected a list, got {type(value).__name__}",
            where,
        )
    return value


def enum(
    value: Any, allowed: frozenset[str], where: str, type_name: str, prefix: str = ""
) -> str:
    """An enum name in any case (`high`, `HIGH`), optionally without its common prefix."""
    if isinstance(value, str):
        name = value.upper()
        if name in allowed:
            return name
        if prefix and prefix + name in allowed:
            return prefix + name
    raise bad_value(where, type_name, value)


REQUEST = frozenset(
    {"contents", "systemInstruction", "generationConfig", "safetySettings", "tools", "toolConfig",
     "cachedContent", "serviceTier", "model", "labels", "store"}
)  # fmt: skip
GENERATION_CONFIG = frozenset(
    {"temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences", "responseLogprobs",
     "logprobs", "presencePenalty", "frequencyPenalty", "seed", "responseMimeType", "responseSchema",
     "responseJsonSchema", "responseModalities", "mediaResolution", "speechConfig", "thinkingConfig",
     "imageConfig", "enableEnhancedCivicAnswers", "audioTimestamp", "routingConfig", "modelSelectionConfig",
     "enableAffectiveDialog"}
)  # fmt: skip
THINKING_CONFIG = frozenset({"thinkingLevel", "thinkingBudget", "includeThoughts"})
IMAGE_CONFIG = frozenset(
    {
        "aspectRatio",
        "imageSize",
        "personGeneration",
        "outputMimeType",
        "outputCompressionQuality",
        "imageOutputOptions",
    }
)
CONTENT = frozenset({"role", "parts"})
PART = frozenset(
    {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult",
     "thought", "thoughtSignature", "videoMetadata", "mediaResolution", "toolCall", "toolResponse", "partMetadata"}
)  # fmt: skip
PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
             "codeExecutionResult", "toolCall", "toolResponse")  # fmt: skip
INLINE_DATA = frozenset({"mimeType", "data", "displayName"})
FILE_DATA = frozenset({"mimeType", "fileUri", "displayName"})
TOOL = frozenset(
    {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext", "googleMaps",
     "fileSearch", "computerUse", "retrieval", "enterpriseWebSearch"}
)  # fmt: skip
FUNCTION_DECLARATION = frozenset(
    {
        "name",
        "description",
        "parameters",
        "parametersJsonSchema",
        "response",
        "responseJsonSchema",
        "behavior",
    }
)
SAFETY_SETTING = frozenset({"category", "threshold", "method"})
TOOL_CONFIG = frozenset(
    {"functionCallingConfig", "retrievalConfig", "includeServerSideToolInvocations"}
)
COUNT_TOKENS = frozenset({"contents", "generateContentRequest"})

THINKING_LEVEL_ENUM = frozenset(
    {"THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"}
)
MEDIA_RESOLUTION_ENUM = frozenset(
    {"MEDIA_RESOLUTION_UNSPECIFIED", "MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH",
     "MEDIA_RESOLUTION_ULTRA_HIGH"}
)  # fmt: skip
MODALITY_ENUM = frozenset({"TEXT", "IMAGE", "AUDIO"})
HARM_CATEGORY_ENUM = frozenset(
    {"HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
     "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY", "HARM_CATEGORY_UNSPECIFIED",
     "HARM_CATEGORY_IMAGE_HATE", "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT", "HARM_CATEGORY_IMAGE_HARASSMENT",
     "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT", "HARM_CATEGORY_JAILBREAK"}
)  # fmt: skip
HARM_THRESHOLD_ENUM = frozenset(
    {"HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH",
     "BLOCK_NONE", "OFF"}
)  # fmt: skip
FUNCTION_MODE_ENUM = frozenset({"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"})
RESPONSE_MIME_TYPES = frozenset({"text/plain", "application/json", "text/x.enum"})
