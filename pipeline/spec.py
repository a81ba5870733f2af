"""The job spec: TOML in, typed and validated objects out, before anything is sent.

Every mistake a user can make in a spec is caught here and reported as one `SpecError` that names the file,
the dotted key (`limits.concurrency`) and what to write instead; the CLI turns it into exit code 2. This is
the only module that imports `tomllib`. Besides the spec it reads the two JSON files a spec may name
(`response_schema_file`, `tools_file`), so that a broken schema fails here and not on every row.

`[generation]` and a row's `generation` object share one parser (`apply_row_overrides`), so a spec and a row
accept the same names and refuse the same values. Model-specific checks come from `catalog.check_generation`.

Usage::

    spec = load_spec("jobs/summarise.toml")      # raises SpecError
    spec.fingerprint()                           # same hash <=> same replies; limits and budget excluded
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import jsonschema

from pipeline.catalog import (
    ALL_THINKING_LEVELS,
    ASPECT_RATIOS,
    FLASH_IMAGE_EXTRA_RATIOS,
    check_generation,
)
from pipeline.errors import RowInvalid, SpecError
from pipeline.records import GenerationSettings

# Columns the sink always writes (CONTRACT.md, "Output"); a kept input field may not shadow one.
_COLUMN_NAMES = (
    "id status text json images function_calls finish_reason model_version input_tokens output_tokens "
    "thinking_tokens cached_tokens total_tokens cost_usd attempts latency_ms error_code error_message "
    "started_at finished_at"
)
OUTPUT_COLUMNS = tuple(_COLUMN_NAMES.split())


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """Where requests go. `api_key_env` is the NAME of a variable; None means the provider's default names."""

    kind: Literal["gemini", "vertex", "openai"]
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    project: str | None = None
    location: str = "global"
    token_env: str | None = None
    quota_project: str | None = None
    image_endpoint: Literal["chat", "images"] = "chat"


@dataclass(frozen=True, slots=True)
class InputSpec:
    path: Path  # absolute
    media_dir: Path | None = None  # absolute


@dataclass(frozen=True, slots=True)
class PromptSpec:
    system: str | None = None
    template: str | None = None  # already checked with parse_template


@dataclass(frozen=True, slots=True)
class LimitsSpec:
    concurrency: int = 32
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    requests_per_day: int | None = None
    max_attempts: int = 6
    request_timeout_s: float = 600.0
    budget_usd: float | None = None


@dataclass(frozen=True, slots=True)
class OutputSpec:
    dir: Path | None = None  # absolute; None: --out or ./out/<name>
    keep_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PricingSpec:
    """USD per million tokens (per image for `per_image`); None keeps the built-in table's value."""

    input_per_million: float | None = None
    output_per_million: float | None = None
    cached_input_per_million: float | None = None
    image_output_per_million: float | None = None
    input_above_200k_per_million: float | None = None
    output_above_200k_per_million: float | None = None
    per_image: float | None = None

    def overrides(self) -> dict[str, float]:
        """The keys the spec set, by their `[pricing]` names (`pricing.price_for` lays them over the table)."""
        return {
            name: value
            for name in self.__slots__
            if (value := getattr(self, name)) is not None
        }


@dataclass(frozen=True, slots=True)
class MediaSpec:
    """Media handling; the `max_*` fields override the built-in per-model limits."""

    upload_threshold_bytes: int | None = None
    delete_uploads: bool = False
    max_inline_bytes: int | None = None
    max_file_bytes: int | None = None
    max_images: int | None = None
    max_audio_s: float | None = None
    max_video_s: float | None = None


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    path: Path  # the spec file, absolute
    provider: ProviderSpec
    input: InputSpec
    prompt: PromptSpec = field(default_factory=PromptSpec)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    limits: LimitsSpec = field(default_factory=LimitsSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    pricing: PricingSpec = field(default_factory=PricingSpec)
    media: MediaSpec = field(default_factory=MediaSpec)

    def describe(self) -> dict[str, object]:
        """What determines the replies, as a flat {dotted.key: value} dict (JSON values), so that a resumed
        run can say which setting differs. Limits, budget, output dir and pricing are left out on purpose:
        a user must be able to resume with a raised budget or other limits."""
        described: dict[str, object] = {
            "provider.kind": self.provider.kind,
            "provider.model": self.provider.model,
            "provider.base_url": self.provider.base_url,
            "input.path": str(self.input.path),
            "input.media_dir": None
            if self.input.media_dir is None
            else str(self.input.media_dir),
            "prompt.system": self.prompt.system,
            "prompt.template": self.prompt.template,
            "output.keep_fields": list(self.output.keep_fields),
        }
        for item in fields(GenerationSettings):
            value = getattr(self.generation, item.name)
            if item.name in ("response_schema", "tools"):
                # The content, not the file name: editing the schema file changes the replies.
                value = None if not value else "sha256:" + _sha256(_canonical(value))
            elif isinstance(value, tuple):
                value = list(value)
            described[f"generation.{item.name}"] = value
        return described

    def fingerprint(self) -> str:
        """sha256 hex of `describe()`: equal fingerprints mean the same requests for the same rows."""
        return _sha256("spec-v1\n" + _canonical(self.describe()))


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate a job spec; raises SpecError naming the file, the key and what was expected."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError("job spec not found; check the path", file=file) from None
    except OSError as exc:
        raise SpecError(
            f"cannot read the job spec: {exc.strerror}", file=file
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError(
            "not UTF-8 text; save the job spec as UTF-8", file=file
        ) from None
    except tomllib.TOMLDecodeError as exc:
        # Its message ends with "(at line L, column C)", which is what the user needs.
        raise SpecError(f"not valid TOML: {exc}", file=file) from None
    try:
        return _build(data, path.resolve())
    except _Bad as bad:
        raise SpecError(bad.message, file=file, key=bad.key) from None


def apply_row_overrides(
    settings: GenerationSettings, overrides: Mapping[str, Any], model: str
) -> GenerationSettings:
    """`settings` with a row's `generation` object laid over it, checked like `[generation]`.

    A null value means "not given" (Parquet structs hold nulls for absent keys). File keys are refused:
    a row cannot name files.
    Raises RowInvalid with the dotted key and what was expected.
    """
    if not isinstance(overrides, Mapping):
        raise RowInvalid(
            f"generation: expected an object of generation settings, got {_got(overrides)}"
        )
    if not overrides:
        return settings
    try:
        for key in _FILE_KEYS:
            if overrides.get(key) is not None:
                raise _Bad(
                    f"generation.{key}",
                    "files can only be named in the job spec's [generation]",
                )
        changes = _parse_generation(
            _Section(overrides, "generation", _GENERATION_KEYS), None
        )
        return _check_model(replace(settings, **changes), model)
    except _Bad as bad:
        raise RowInvalid(f"{bad.key}: {bad.message}") from None


_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\{|\}")


def parse_template(template: str) -> tuple[tuple[str, str | None], ...]:
    """Split a template into (literal text, field name or None) pieces; `{{` and `}}` are literal braces.

    Only `{field}` is supported (no format specs, conversions or indexing), so a row cannot make a template
    run code or read attributes. Raises ValueError saying what to write instead.
    """
    pieces: list[tuple[str, str | None]] = []
    literal: list[str] = []
    last = 0
    for match in _TEMPLATE_TOKEN.finditer(template):
        literal.append(template[last : match.start()])
        last = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif token == "{":
            raise ValueError(
                f"'{{' at position {match.start()} is never closed; write '{{{{' for a literal brace"
            )
        elif token == "}":
            raise ValueError(
                f"single '}}' at position {match.start()}; write '}}}}' for a literal brace"
            )
        else:
            name = match.group(1)
            if not name.strip() or name != name.strip() or any(c in name for c in ":!"):
                raise ValueError(
                    f"{token} at position {match.start()} is not a field name; write {{field}} with a row field's "
                    "name (no spaces around it, no format specs or conversions)"
                )
            pieces.append(("".join(literal), name))
            literal = []
    literal.append(template[last:])
    pieces.append(("".join(literal), None))
    return tuple(pieces)


# Value parsing. Each parser takes (dotted key, value) and returns the typed value or raises _Bad.


class _Bad(Exception):
    """One wrong value; `load_spec` turns it into a SpecError, `apply_row_overrides` into a RowInvalid."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


Parser = Callable[[str, Any], Any]
# Google API keys, OpenAI-style keys, OAuth tokens: never echoed in a message.
_KEY_LIKE = ("AIza", "sk-", "ya29.", "Bearer ")


def _got(value: Any) -> str:
    """A short description of a wrong value for an error message; never echoes anything that looks like a key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if value.startswith(_KEY_LIKE):
            return "a string that looks like an API key (not shown)"
        shown = json.dumps(value, ensure_ascii=False)
        return shown if len(shown) <= 60 else shown[:57] + '..."'
    if isinstance(value, int | float):
        return repr(value)
    return {list: "a list", dict: "a table"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _unknown(key: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return f'unknown key "{key}"; {hint}expected one of: {", ".join(known)}'


class _Section:
    """One TOML table (or a row's generation object): refuses unknown keys, then parses the known ones."""

    def __init__(self, data: Any, name: str, known: Mapping[str, Parser]) -> None:
        if not isinstance(data, Mapping):
            raise _Bad(name, f"expected a table [{name}], got {_got(data)}")
        for key in data:
            if key not in known:
                raise _Bad(f"{name}.{key}" if name else key, _unknown(key, known))
        self.data, self.name, self.known = data, name, known

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self.data:
            return default
        return self.known[key](self.key(key), self.data[key])

    def require(self, key: str, example: str) -> Any:
        if key not in self.data:
            raise _Bad(self.key(key), f"missing; add {example} under [{self.name}]")
        return self.get(key)


def _integer(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(key: str, value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not _within(value, minimum, maximum)
        ):
            raise _Bad(
                key,
                f"expected {_range('an integer', minimum, maximum)}, got {_got(value)}",
            )
        return value

    return parse


def _number(
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    positive: bool = False,
) -> Parser:
    def parse(key: str, value: Any) -> float:
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        )
        if not ok or not _within(value, minimum, maximum) or (positive and value <= 0):
            wanted = (
                "a number more than 0"
                if positive
                else _range("a number", minimum, maximum)
            )
            raise _Bad(key, f"expected {wanted}, got {_got(value)}")
        return float(value)

    return parse


def _within(value: float, minimum: float | None, maximum: float | None) -> bool:
    return (minimum is None or value >= minimum) and (
        maximum is None or value <= maximum
    )


def _range(what: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{what} from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"{what} of at least {minimum:g}"
    return what if maximum is None else f"{what} of at most {maximum:g}"


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(key, f"expected a non-empty string, got {_got(value)}")
    return value


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(key, f"expected true or false, got {_got(value)}")
    return value


def _choice(
    options: Iterable[str], *, fold: Callable[[str], str] | None = None
) -> Parser:
    options = tuple(options)

    def parse(key: str, value: Any) -> str:
        folded = fold(value) if fold is not None and isinstance(value, str) else value
        if folded not in options:
            raise _Bad(
                key,
                f"expected one of {', '.join(map(json.dumps, options))}, got {_got(value)}",
            )
        return folded

    return parse


def _strings(item: Parser, *, most: int | None = None) -> Parser:
    def parse(key: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list) or (most is not None and len(value) > most):
            limit = f" of at most {most}" if most is not None else ""
            raise _Bad(
                key,
                f'expected a list{limit} of strings, e.g. ["a", "b"], got {_got(value)}',
            )
        parsed = tuple(item(f"{key}[{i}]", entry) for i, entry in enumerate(value))
        if len(set(parsed)) != len(parsed):
            raise _Bad(
                key, f"expected distinct entries, got {_got(value)} with repeats"
            )
        return parsed

    return parse


def _env_name(key: str, value: Any) -> str:
    """The NAME of an environment variable. The value is never echoed: people paste the key itself here."""
    if (
        not isinstance(value, str)
        or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)
        or value.startswith("AIza")
    ):
        raise _Bad(
            key,
            'expected the name of an environment variable, e.g. "GEMINI_API_KEY" (the value is not shown: if '
            "you pasted a key here, revoke it, put it in an environment variable and write that variable's name)",
        )
    return value


def _url(key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(
        r"https?://[^\s/?#]+(/[^\s?#]*)?", value
    ):
        raise _Bad(
            key,
            'expected an http(s) URL without a query string, e.g. "https://generativelanguage.googleapis.com" '
            "(keys go in api_key_env, never in the URL)",
        )
    return value.rstrip("/")


def _name(key: str, value: Any) -> str:
    value = _text(key, value)
    if "/" in value or "\\" in value or value in (".", ".."):
        raise _Bad(
            key,
            f"expected a name without path separators (it names ./out/<name>), got {_got(value)}",
        )
    return value


def _path(key: str, value: Any) -> str:
    return _text(key, value)


def _image_size(key: str, value: Any) -> str:
    sizes = ("512", "1K", "2K", "4K")
    if isinstance(value, str) and value not in sizes and value.upper() in sizes:
        raise _Bad(
            key,
            f'image sizes are case-sensitive: write "{value.upper()}", not {_got(value)}',
        )
    return _choice(sizes)(key, value)


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
    where = str(base / value)
    tools = _load_json(key, value, base)
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
    "image_aspect_ratio": _choice(ASPECT_RATIOS + FLASH_IMAGE_EXTRA_RATIOS),
    "image_size": _image_size,
    "media_resolution": _choice(("low", "medium", "high"), fold=str.lower),
    "response_schema_file": _path,
    "tools_file": _path,
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
    problem = check_generation(settings, model)
    if problem is not None:
        raise _Bad(f"generation.{problem[0]}", problem[1])
    return settings


# The tables of a spec. Each builder takes its _Section and returns the typed record.
_TABLE_NAMES = "provider input prompt generation limits output pricing media"
_TABLES = _TABLE_NAMES.split()
_TOP_KEYS: dict[str, Parser] = dict.fromkeys(_TABLES, lambda _key, value: value) | {
    "name": _name
}
_SECRET_KEYS = ("api_key", "apikey", "key", "token", "access_token", "secret")


def _build(data: dict[str, Any], path: Path) -> JobSpec:
    # Checked before unknown keys, with a message of its own; the value is never shown.
    for secret in _SECRET_KEYS:
        for key in (secret, f"provider.{secret}"):
            table = data.get("provider") if key.startswith("provider.") else data
            if isinstance(table, dict) and secret in table:
                raise _Bad(
                    key,
                    "a key never goes in a job spec: put it in an environment variable and write "
                    'api_key_env = "GEMINI_API_KEY" (its name) under [provider] instead',
                )
    top = _Section(data, "", _TOP_KEYS)
    base = path.parent
    if "provider" not in top:
        raise _Bad(
            "provider",
            'missing; add a [provider] table with kind = "gemini" and model = "..."',
        )
    if "input" not in top:
        raise _Bad("input", 'missing; add an [input] table with path = "rows.jsonl"')
    provider = _provider(_Section(data["provider"], "provider", _PROVIDER_KEYS))
    generation = _Section(data.get("generation", {}), "generation", _GENERATION_KEYS)
    return JobSpec(
        name=top.get("name", path.stem),
        path=path,
        provider=provider,
        input=_input(_Section(data["input"], "input", _INPUT_KEYS), base),
        prompt=_prompt(_Section(data.get("prompt", {}), "prompt", _PROMPT_KEYS)),
        generation=_check_model(
            GenerationSettings(**_parse_generation(generation, base)), provider.model
        ),
        limits=LimitsSpec(
            **_values(_Section(data.get("limits", {}), "limits", _LIMITS_KEYS))
        ),
        output=_output(_Section(data.get("output", {}), "output", _OUTPUT_KEYS), base),
        pricing=PricingSpec(
            **_values(_Section(data.get("pricing", {}), "pricing", _PRICING_KEYS))
        ),
        media=MediaSpec(
            **_values(_Section(data.get("media", {}), "media", _MEDIA_KEYS))
        ),
    )


def _values(section: _Section) -> dict[str, Any]:
    return {key: section.get(key) for key in section.data}


_VERTEX_ONLY = ("project", "location", "token_env", "quota_project")
_PROVIDER_KEYS: dict[str, Parser] = {
    "kind": _choice(("gemini", "vertex", "openai")),
    "model": _text,
    "base_url": _url,
    "api_key_env": _env_name,
    "project": _text,
    "location": _text,
    "token_env": _env_name,
    "quota_project": _text,
    "image_endpoint": _choice(("chat", "images")),
}


def _provider(section: _Section) -> ProviderSpec:
    kind = section.require("kind", 'kind = "gemini"')
    model = section.require("model", 'model = "gemini-3.1-pro-preview"').removeprefix(
        "models/"
    )
    if kind != "vertex":
        for key in _VERTEX_ONLY:
            if key in section:
                raise _Bad(
                    section.key(key),
                    f'{key} applies to kind = "vertex" only; remove it or change kind',
                )
    if kind == "vertex" and "project" not in section:
        raise _Bad(
            "provider.project", 'missing; vertex needs project = "your-gcp-project-id"'
        )
    if kind == "openai" and "base_url" not in section:
        raise _Bad(
            "provider.base_url",
            'missing; kind = "openai" needs the endpoint with its version path, e.g. "https://api.example.com/v1"',
        )
    if kind != "openai" and "image_endpoint" in section:
        raise _Bad(
            "provider.image_endpoint",
            'applies to kind = "openai" only; remove it or change kind',
        )
    return ProviderSpec(
        kind=kind,
        model=model,
        base_url=section.get("base_url"),
        api_key_env=section.get("api_key_env"),
        project=section.get("project"),
        location=section.get("location", "global"),
        token_env=section.get("token_env"),
        quota_project=section.get("quota_project"),
        image_endpoint=section.get("image_endpoint", "chat"),
    )


_INPUT_KEYS: dict[str, Parser] = {"path": _path, "media_dir": _path}


def _input(section: _Section, base: Path) -> InputSpec:
    path = (base / section.require("path", 'path = "rows.jsonl"')).resolve()
    if not path.is_file():
        raise _Bad(
            "input.path",
            f"expected an existing JSONL or Parquet file, but {path} does not exist",
        )
    media_dir = None
    if "media_dir" in section:
        media_dir = (base / section.get("media_dir")).resolve()
        if not media_dir.is_dir():
            raise _Bad(
                "input.media_dir",
                f"expected an existing folder, but {media_dir} is not one",
            )
    return InputSpec(path=path, media_dir=media_dir)


_PROMPT_KEYS: dict[str, Parser] = {"system": _text, "template": _text}


def _prompt(section: _Section) -> PromptSpec:
    template = section.get("template")
    if template is not None:
        try:
            parse_template(template)
        except ValueError as exc:
            raise _Bad("prompt.template", str(exc)) from None
    return PromptSpec(system=section.get("system"), template=template)


_LIMITS_KEYS: dict[str, Parser] = {
    "concurrency": _integer(1),
    "requests_per_minute": _number(positive=True),
    "tokens_per_minute": _number(positive=True),
    "requests_per_day": _integer(1),
    "max_attempts": _integer(1, 100),
    "request_timeout_s": _number(positive=True),
    "budget_usd": _number(positive=True),
}
_PRICING_KEYS: dict[str, Parser] = dict.fromkeys(
    (
        "input_per_million",
        "output_per_million",
        "cached_input_per_million",
        "image_output_per_million",
        "input_above_200k_per_million",
        "output_above_200k_per_million",
        "per_image",
    ),
    _number(0),
)
_MEDIA_KEYS: dict[str, Parser] = {
    "upload_threshold_bytes": _integer(0),
    "delete_uploads": _boolean,
    "max_inline_bytes": _integer(1),
    "max_file_bytes": _integer(1),
    "max_images": _integer(1),
    "max_audio_s": _number(positive=True),
    "max_video_s": _number(positive=True),
}
_OUTPUT_KEYS: dict[str, Parser] = {"dir": _path, "keep_fields": _strings(_text)}


def _output(section: _Section, base: Path) -> OutputSpec:
    keep = section.get("keep_fields", ())
    for name in keep:
        if name in OUTPUT_COLUMNS:
            raise _Bad(
                "output.keep_fields",
                f'"{name}" is already an output column; remove it from keep_fields',
            )
    directory = section.get("dir")
    return OutputSpec(
        dir=None if directory is None else (base / directory).resolve(),
        keep_fields=keep,
    )


def _canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
