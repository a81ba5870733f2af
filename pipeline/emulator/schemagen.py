"""Deterministic documents that validate against a response schema (JSON Schema or Google's OpenAPI subset).

Covers what structured-output schemas use: objects (all properties filled, required or not), arrays
within minItems/maxItems, enums and const, strings (with formats and length bounds), numbers and
integers within bounds, booleans, null, anyOf/oneOf (first branch), allOf (merged), local $ref.
Values are drawn from `rng` so different rows get different documents.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ("generate", "invalid_for", "openapi_to_json_schema")

_WORDS = (
    "alpha",
    "bravo",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "iris",
    "juniper",
    "kelp",
    "lumen",
)
_FORMATS = {
    "date": "2026-01-15",
    "date-time": "2026-01-15T10:30:00Z",
    "time": "10:30:00",
    "email": "someone@example.com",
    "uri": "https://example.com/item",
    "url": "https://example.com/item",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
    "ipv4": "192.0.2.1",
}


def openapi_to_json_schema(schema: Any) -> Any:
    """Google's Schema (types like "OBJECT", `nullable`) as plain JSON Schema."""
    if isinstance(schema, list):
        return [openapi_to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {k: openapi_to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf", "any_of"):
            out["anyOf" if key == "any_of" else key] = openapi_to_json_schema(value)
        elif key in ("nullable", "propertyOrdering", "property_ordering", "example"):
            continue
        else:
            out[_camel(key)] = value
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "enum" in out and out.get("type") == "string" and "format" in out:
        del out["format"]
    return out


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p.title() for p in rest)


def generate(schema: Any, rng: random.Random, root: Any = None, depth: int = 0) -> Any:
    """A value that validates against `schema` (best effort for `pattern` and exotic keywords)."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 12:
        return None if depth > 12 else {}
    if "$ref" in schema:
        return generate(_resolve(schema["$ref"], root), rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][rng.randrange(len(schema["enum"]))]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            branches = [
                b
                for b in schema[key]
                if not (isinstance(b, dict) and b.get("type") == "null")
            ]
            return generate((branches or schema[key])[0], rng, root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = (
                _resolve(part["$ref"], root)
                if isinstance(part, dict) and "$ref" in part
                else part
            )
            for k, v in part.items():
                if k in ("properties",) and k in merged:
                    merged[k] = {**merged[k], **v}
                elif k == "required" and k in merged:
                    merged[k] = [*merged[k], *v]
                else:
                    merged[k] = v
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return generate({**merged, **rest}, rng, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if kind is None:
        kind = (
            "object"
            if "properties" in schema
            else "array"
            if "items" in schema
            else "string"
        )
    maker = _MAKERS.get(kind)
    return maker(schema, rng, root, depth) if maker else None


def _resolve(ref: str, root: Any) -> Any:
    node = root
    for piece in ref.lstrip("#/").split("/"):
        if piece:
            node = node.get(piece, {}) if isinstance(node, dict) else {}
    return node


def _object(
    schema: dict[str, Any], rng: random.Random, root: Any, depth: int
) -> dict[str, Any]:
    props = schema.get("properties") or {}
    out = {name: generate(sub, rng, root, depth + 1) for name, sub in props.items()}
    for name in schema.get("required") or ():
        if name not in out:
            extra = schema.get("additionalProperties")
            out[name] = (
                generate(extra, rng, root, depth + 1)
                if isinstance(extra, dict)
                else "value"
            )
    return out


def _array(
    schema: dict[str, Any], rng: random.Random, root: Any, depth: int
) -> list[Any]:
    low = int(schema.get("minItems", 1 if depth < 4 else 0))
    high = int(schema.get("maxItems", max(low, 3)))
    n = rng.randint(low, max(low, high))
    items = schema.get("items")
    if isinstance(items, list):  # tuple validation
        return [generate(s, rng, root, depth + 1) for s in items]
    values = [
        generate(items or {"type": "string"}, rng, root, depth + 1) for _ in range(n)
    ]
    if schema.get("uniqueItems") and values and all(isinstance(v, str) for v in values):
        values = [f"{v}-{i}" for i, v in enumerate(values)]
    return values


def _string(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> str:
    fmt = schema.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4)))
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    while len(text) < low:
        text += " " + rng.choice(_WORDS)
    if high is not None:
        text = text[: int(high)]
    return text


def _number(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> float:
    low, high = _bounds(schema, 0.0, 100.0)
    return round(rng.uniform(low, high), 2) if high > low else low


def _integer(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> int:
    low, high = _bounds(schema, 0, 100)
    low_i, high_i = int(-(-low // 1)), int(high // 1)
    value = rng.randint(low_i, max(low_i, high_i))
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0:
        value = -(-value // step) * step
    return value


def _bounds(schema: dict[str, Any], low: float, high: float) -> tuple[float, float]:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    if (
        isinstance(schema.get("exclusiveMinimum"), (int, float))
        and "minimum" not in schema
    ):
        lo = schema["exclusiveMinimum"] + 1
    if (
        isinstance(schema.get("exclusiveMaximum"), (int, float))
        and "maximum" not in schema
    ):
        hi = schema["exclusiveMaximum"] - 1
    lo = (
        float(lo)
        if lo is not None
        else (min(low, float(hi) - 100) if hi is not None else low)
    )
    hi = float(hi) if hi is not None else lo + (high - low)
    return lo, hi


def _boolean(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> bool:
    return rng.random() < 0.5


def _null(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> None:
    return None


# A value maker: (schema, rng, root schema for $ref, depth) -> a value of the schema's type.
Maker = Callable[[dict[str, Any], random.Random, Any, int], Any]
_MAKERS: dict[str, Maker] = {
    "object": _object,
    "array": _array,
    "string": _string,
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "null": _null,
}


def invalid_for(schema: Any) -> Any:
    """A JSON value of the wrong type for `schema`, for the `json_invalid` directive."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, str) and kind.lower() == "array":
        return {"emulator": "json_invalid"}
    if (
        isinstance(kind, str)
        and kind.lower() == "object"
        or (isinstance(schema, dict) and "properties" in schema)
    ):
        return ["emulator: json_invalid"]
    return {"emulator": ["json_invalid"]}
