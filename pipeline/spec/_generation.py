"""`[generation]` and a row's `generation` object: one parser for both, plus the files a spec may name.

`_parse_generation` reads the keys (and, for a spec, loads `response_schema_file` and `tools_file` relative to
the spec's folder, so that a broken schema fails here and not on every row); `_check_model` applies the
model-specific checks from `catalog.check_generation`. Errors are `_Bad`, as for every spec value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pipeline.catalog import (
    ALL_THINKING_LEVELS,
    ASPECT_RATIOS,
    EXTREME_ASPECT_RATIOS,
    check_generation,
    model_info,
)
from pipeline.records import GenerationSettings

from ._values import (
    Parser,
    _Bad,
    _boolean,
    _choice,
    _got,
    _integer,
    _number,
    _path,
    _Section,
    _strings,
    _text,
)


def _image_size(key: str, value: Any) -> str:
    sizes = ("512", "1K", "2K", "4K")
    if isinstance(value, str) and value not in sizes and value.upper() in sizes:
        raise _Bad(
            key,
            f'image sizes are case-sensitive: write "{value.upper()}", not {_got(value)}',
        )
    return str(_choice(sizes)(key, value))


def _load_json(key: str, value: Any, base: Path) -> Any:
    path = base / _text(key, value)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _Bad(key, f"expected a JSON file, but {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _Bad(key, f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise _Bad(key, f"{path} is not valid JSON: {exc}") from None


def _check_schema(key: str, schema: Any, where: str) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise _Bad(key, f"expected a JSON Schema object in {where}, got {_got(schema)}")
    import jsonschema  # on first use: 50 ms of start-up that a job without a schema never needs

    validator = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft202012Validator
    )
    try:
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        at = "/".join(str(part) for part in exc.absolute_path) or "the top level"
        raise _Bad(
            key, f"{where} is not a valid JSON Schema: {exc.message} (at {at})"
        ) from None
    return schema


def _load_schema(key: str, value: Any, base: Path) -> dict[str, Any]:
    return _check_schema(key, _load_json(key, value, base), str(base / value))


def _load_tools(key: str, value: Any, base: Path) -> tuple[dict[str, Any], ...]:
    """A JSON list of function declarations: {"name", "description", "parameters" (a JSON Schema)}."""
    tools = _load_json(key, value, base)  # first: it refuses a value that is not a path
    where = str(base / value)
    if not isinstance(tools, list) or not tools:
        raise _Bad(
            key,
            f'expected a non-empty JSON list of {{"name", "description", "parameters"}} in {where}',
        )
    names: set[str] = set()
    for i, tool in enumerate(tools):
        entry = f"{where}, entry {i}"
        if not isinstance(tool, dict) or not set(tool) <= {
            "name",
            "description",
            "parameters",
        }:
            raise _Bad(
                key,
                f'{entry}: expected an object with only "name", "description" and "parameters"',
            )
        name = tool.get("name")
        if not isinstance(name, str) or not re.fullmatch(
            r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}", name
        ):
            raise _Bad(
                key,
                f"{entry}: expected a name of letters, digits, _ . : - (at most 64), got {_got(name)}",
            )
        if name in names:
            raise _Bad(key, f"{entry}: the name {name!r} is declared twice")
        names.add(name)
        if not isinstance(tool.get("description", ""), str):
            raise _Bad(key, f"{entry}: expected a string description")
        if "parameters" in tool:
            _check_schema(key, tool["parameters"], f"{entry} parameters")
    return tuple(tools)


FUNCTION_CALLING_MODES = ("AUTO", "ANY", "NONE", "VALIDATED")
_TOOL_CONFIG_KEYS: dict[str, Parser] = {
    "mode": _choice(FUNCTION_CALLING_MODES, fold=str.upper),
    "allowed_function_names": _strings(_text),
}


def _tool_config(key: str, value: Any) -> dict[str, Any]:
    """`tool_config = { mode = "ANY", allowed_function_names = ["extract"] }`: how the model may call the tools."""
    section = _Section(value, key, _TOOL_CONFIG_KEYS)
    mode = section.require("mode", 'mode = "ANY"')
    names = section.get("allowed_function_names", ())
    if names and mode not in ("ANY", "VALIDATED"):
        raise _Bad(
            f"{key}.allowed_function_names",
            f'allowed_function_names needs mode "ANY" or "VALIDATED", not "{mode}"',
        )
    return {"function_calling_mode": mode, "allowed_function_names": names}


# "auto" sends at Flex while the run is on course for `[limits] deadline`, else at Standard (the engine decides).
SERVICE_TIERS = ("standard", "flex", "priority", "auto")

# [generation]: key -> parser. The two file keys are read by _parse_generation, which knows the spec's folder.
_FILE_KEYS = {"response_schema_file": "response_schema", "tools_file": "tools"}
_GENERATION_KEYS: dict[str, Parser] = {
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "top_k": _integer(1),
    "max_output_tokens": _integer(1),
    "seed": _integer(-(2**31), 2**31 - 1),
    "stop_sequences": _strings(_text, most=5),
    "thinking_level": _choice(ALL_THINKING_LEVELS, fold=str.lower),
    "include_thoughts": _boolean,
    "response_mime_type": _choice(("text/plain", "application/json", "text/x.enum")),
    "response_modalities": _strings(
        _choice(("TEXT", "IMAGE", "AUDIO"), fold=str.upper)
    ),
    "image_aspect_ratio": _choice(ASPECT_RATIOS + EXTREME_ASPECT_RATIOS),
    "image_size": _image_size,
    "media_resolution": _choice(("low", "medium", "high"), fold=str.lower),
    "response_schema_file": _path,
    "tools_file": _path,
    "tool_config": _tool_config,
    "service_tier": _choice(SERVICE_TIERS, fold=str.lower),
}


def _parse_generation(section: _Section, base: Path | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, value in section.data.items():
        if key in _FILE_KEYS:
            assert base is not None  # apply_row_overrides refuses file keys before this
            loader = _load_schema if key == "response_schema_file" else _load_tools
            changes[_FILE_KEYS[key]] = loader(section.key(key), value, base)
        elif value is None:
            continue  # a JSON null in a row, or a null in a Parquet struct: not given
        elif key == "tool_config":
            changes.update(section.get(key))
        else:
            changes[key] = section.get(key)
    if changes.get("response_schema") and "response_mime_type" not in changes:
        # The API honours a schema only with JSON output.
        changes["response_mime_type"] = "application/json"
    return changes


def _check_model(settings: GenerationSettings, model: str) -> GenerationSettings:
    if (
        settings.response_schema is not None
        and settings.response_mime_type == "text/plain"
    ):
        raise _Bad(
            "generation.response_mime_type",
            'a response schema needs "application/json"; remove the key',
        )
    if settings.function_calling_mode not in (None, "NONE") and not settings.tools:
        raise _Bad(
            "generation.tool_config",
            "a function-calling mode needs function declarations: add tools_file",
        )
    declared = {str(tool.get("name")) for tool in settings.tools}
    unknown = [n for n in settings.allowed_function_names if n not in declared]
    if unknown:
        raise _Bad(
            "generation.tool_config.allowed_function_names",
            f"{', '.join(map(repr, unknown))} not among the functions of tools_file "
            f"({', '.join(sorted(declared))})",
        )
    problem = check_generation(settings, model)
    if problem is not None:
        raise _Bad(f"generation.{problem[0]}", problem[1])
    _check_tier(settings.service_tier, model)
    return settings


def _check_tier(tier: str | None, model: str) -> None:
    """A tier the catalog says the model is not offered at (the Gemini API's lists; None there: not said).
    "auto" sends at Flex, so it needs Flex."""
    info = model_info(model)
    if info is None or tier in (None, "standard"):
        return
    needed = "priority" if tier == "priority" else "flex"
    if getattr(info, needed) is False:
        raise _Bad(
            "generation.service_tier",
            f'{info.id} is not offered at the {needed.capitalize()} tier; use "standard" or another model',
        )
