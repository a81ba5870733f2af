"""The job spec: TOML in, typed and validated objects out, before anything is sent.

Every mistake a user can make in a spec is caught here and reported as one `SpecError` that names the file,
the dotted key (`limits.concurrency`) and what to write instead; the CLI turns it into exit code 2. This is
the only module that imports `tomllib`. The checks live in three private helpers: `spec_values` (one parser
per kind of value), `spec_tables` (each table's keys and the checks across them) and `spec_generation`
(`[generation]`, plus the two JSON files a spec may name, `response_schema_file` and `tools_file`, so that a
broken schema fails here and not on every row).

`[generation]` and a row's `generation` object share one parser (`apply_row_overrides`), so a spec and a row
accept the same names and refuse the same values. Model-specific checks come from `catalog.check_generation`.

Usage::

    spec = load_spec("jobs/summarise.toml")      # raises SpecError
    spec = parse_spec({"provider": {...}, "input": {...}}, base_dir=".")   # the same checks, from a mapping
    spec.fingerprint()                           # same hash <=> same replies; limits and budget excluded
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pipeline.catalog import lifecycle_notice, price_for
from pipeline.errors import RowInvalid, SpecError
from pipeline.records import GenerationSettings

from ._cache import CACHE_KEYS, CacheSpec, _cache
from ._deadline import Deadline
from ._generation import _FILE_KEYS, _GENERATION_KEYS, _check_model, _parse_generation
from ._tables import (
    _BATCH_KEYS,
    _INPUT_KEYS,
    _LIMITS_KEYS,
    _MEDIA_KEYS,
    _OUTPUT_KEYS,
    _PRICING_KEYS,
    _PROVIDER_KEYS,
    _TOP_KEYS,
    OUTPUT_COLUMNS,  # noqa: F401 (re-exported)
    _batch,
    _input,
    _output,
    _provider,
    _refuse_secrets,
    _values,
)
from ._values import Parser, _Bad, _got, _Section, _text


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
class InputShard:
    """A contiguous range of the input's rows, for one worker of a cluster run (`pipeline run --ray`).

    `first_line` and `end_line` are 1-based line numbers (row numbers for Parquet), end exclusive; `offset` is
    the byte offset of `first_line` in a JSONL file (0 for Parquet), so a shard reads only its own bytes.
    `seen_before` holds the ids of this shard's rows that an earlier shard already has, with the line they were
    first seen on: those rows are duplicates, as they would be in a run of the whole file.
    """

    index: int
    first_line: int
    end_line: int
    offset: int = 0
    rows: int = 0
    seen_before: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class InputSpec:
    path: Path | str  # absolute, or a URL (s3://bucket/rows.jsonl, gs://...)
    media_dir: Path | str | None = None  # absolute, or a URL
    shard: InputShard | None = (
        None  # only this range of rows (a cluster worker's share); not in the hash
    )


@dataclass(frozen=True, slots=True)
class PromptSpec:
    system: str | None = None
    template: str | None = None  # already checked with parse_template


DEFAULT_TIMEOUT_S = 600.0
# Flex answers in minutes ("1-15 min target"); its page recommends client timeouts of 10 minutes or more.
FLEX_TIMEOUT_S = 900.0


@dataclass(frozen=True, slots=True)
class LimitsSpec:
    concurrency: int = 32
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    requests_per_day: int | None = None
    max_attempts: int = 6
    request_timeout_s: float | None = (
        None  # None: DEFAULT_TIMEOUT_S, FLEX_TIMEOUT_S for Flex attempts
    )
    budget_usd: float | None = None
    flex_fallback_after_s: float | None = (
        None  # a row Flex keeps refusing this long goes at Standard
    )
    deadline: Deadline | None = None  # service_tier = "auto": be done by then

    def attempt_timeout_s(self, tier: str | None = None) -> float:
        """Seconds one attempt at `tier` may take: `request_timeout_s` when set, else by tier."""
        if self.request_timeout_s is not None:
            return self.request_timeout_s
        return FLEX_TIMEOUT_S if tier == "flex" else DEFAULT_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class OutputSpec:
    dir: Path | str | None = None  # absolute, or a URL; None: --out or ./out/<name>
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
    input_audio_per_million: float | None = None
    cached_input_audio_per_million: float | None = None

    def overrides(self) -> dict[str, float]:
        """The keys the spec set, by their `[pricing]` names (`catalog.price_for` lays them over the catalog)."""
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


# Settings that change what a reply costs or how long it takes, not what it says: a run resumes with them changed.
_NOT_DESCRIBED = ("service_tier",)


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """`[batch]`: how `mode = "batch"` splits, names and waits for its jobs (ignored online).

    A job's input file stays under `max_file_bytes` (the Batch API takes up to 2 GB), its estimated input
    tokens under `max_job_tokens` (the enqueued-token quota of the project's tier; None: no split by tokens)
    and its rows under `max_job_rows` (None: 50,000 on OpenAI-compatible endpoints, no limit on Gemini).
    Jobs are polled every `poll_interval_s`, backing off by half each quiet poll up to `max_poll_interval_s`.
    `label` goes into each job's display name, to find the jobs in AI Studio."""

    max_file_bytes: int = 2_000_000_000
    max_job_tokens: int | None = None
    max_job_rows: int | None = None
    poll_interval_s: float = 10.0
    max_poll_interval_s: float = 120.0
    label: str | None = None


Mode = Literal["online", "batch"]


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    path: Path  # the spec file, absolute (`base_dir/<mapping>` for a spec given as a mapping)
    provider: ProviderSpec
    input: InputSpec
    prompt: PromptSpec = field(default_factory=PromptSpec)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    limits: LimitsSpec = field(default_factory=LimitsSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    pricing: PricingSpec = field(default_factory=PricingSpec)
    media: MediaSpec = field(default_factory=MediaSpec)
    cache: CacheSpec = field(default_factory=CacheSpec)
    # "batch": the Gemini Batch API (or an OpenAI-compatible /batches) instead of one request per row. Not part
    # of `describe()`: both modes send the same requests, so a run may switch (never while batch jobs run).
    mode: Mode = "online"
    batch: BatchSpec = field(default_factory=BatchSpec)
    # What the user should know but that does not stop the job (a deprecated or unknown model id); the CLI
    # prints each as "warning: ..." on stderr. Not part of `describe()`.
    warnings: tuple[str, ...] = ()

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
            if item.name in _NOT_DESCRIBED:
                continue
            value = getattr(self.generation, item.name)
            if item.name in ("response_schema", "tools"):
                # The content, not the file name: editing the schema file changes the replies.
                value = None if not value else "sha256:" + _sha256(_canonical(value))
            elif isinstance(value, tuple):
                value = list(value)
            described[f"generation.{item.name}"] = value
        if (
            self.cache.files
        ):  # part of every prompt, cached or not (absent: older runs keep their hash)
            described["cache.files"] = list(self.cache.files)
        return described

    def fingerprint(self) -> str:
        """sha256 hex of `describe()`: equal fingerprints mean the same requests for the same rows."""
        return _sha256("spec-v1\n" + _canonical(self.describe()))

    def with_mode(self, mode: str | None) -> JobSpec:
        """This spec run in `mode` (`pipeline run --mode`); None keeps the spec's. Raises SpecError when the
        provider has no batch mode."""
        if mode is None or mode == self.mode:
            return self
        if mode not in ("online", "batch"):
            raise SpecError(f'expected "online" or "batch", got {mode!r}', key="mode")
        changed = replace(self, mode=mode)  # type: ignore[arg-type]
        try:
            _check_mode(changed)
        except _Bad as bad:
            raise SpecError(bad.message, key=bad.key) from None
        return changed


def load_spec(path: str | Path, *, today: date | None = None) -> JobSpec:
    """Read and validate a job spec; raises SpecError naming the file, the key and what was expected.

    The model id is checked against the catalog's lifecycle on `today` (UTC today when None): on "gemini" and
    "vertex" a shut-down id is refused (key `provider.model`, naming the shutdown date and the replacement);
    deprecated and unknown ids, and shut-down ids on "openai" (aggregators keep their own names), become
    `JobSpec.warnings`.
    """
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
    resolved = path.resolve()
    try:
        return _build(
            data,
            path=resolved,
            base=resolved.parent,
            default_name=resolved.stem,
            today=today,
        )
    except _Bad as bad:
        raise SpecError(bad.message, file=file, key=bad.key) from None


MAPPING_FILE = "<mapping>"


def parse_spec(
    data: Mapping[str, Any],
    *,
    base_dir: str | os.PathLike[str],
    name: str | None = None,
) -> JobSpec:
    """Validate a job spec given as a mapping with the TOML file's structure (tables as nested mappings).

    Relative paths resolve against `base_dir`; `name` is the default when the mapping has no `name` key
    (else "job"). Path-like values are taken as strings and tuples as lists, as TOML would give them. The
    checks are `load_spec`'s, and so are the errors: a SpecError naming the dotted key (and no file).
    `JobSpec.path` is `base_dir/<mapping>`, since there is no file.
    """
    if not isinstance(data, Mapping):
        raise SpecError(
            f"expected a mapping of the job spec's tables, got {type(data).__name__}"
        )
    base = Path(base_dir).resolve()
    try:
        return _build(
            _as_toml(data, ""),
            path=base / MAPPING_FILE,
            base=base,
            default_name=name or "job",
        )
    except _Bad as bad:
        raise SpecError(bad.message, key=bad.key) from None


def _as_toml(value: Any, key: str) -> Any:
    """A mapping's values as `tomllib` would have given them: dicts, lists and str for path-like values."""
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise _Bad(key or "spec", f"keys must be strings, got {_got(name)}")
            plain[name] = _as_toml(item, f"{key}.{name}" if key else name)
        return plain
    if isinstance(value, (list, tuple)):
        return [_as_toml(item, f"{key}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


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


def _build(
    data: dict[str, Any],
    *,
    path: Path,
    base: Path,
    default_name: str,
    today: date | None = None,
) -> JobSpec:
    _refuse_secrets(data)
    top = _Section(data, "", _TOP_KEYS)
    if "provider" not in top:
        raise _Bad(
            "provider",
            'missing; add a [provider] table with kind = "gemini" and model = "..."',
        )
    if "input" not in top:
        raise _Bad("input", 'missing; add an [input] table with path = "rows.jsonl"')
    provider = ProviderSpec(
        **_provider(_Section(data["provider"], "provider", _PROVIDER_KEYS))
    )
    generation = _Section(data.get("generation", {}), "generation", _GENERATION_KEYS)
    pricing = PricingSpec(
        **_values(_Section(data.get("pricing", {}), "pricing", _PRICING_KEYS))
    )
    warnings = _model_warnings(provider, pricing, today)
    spec = JobSpec(
        name=top.get("name", default_name),
        path=path,
        provider=provider,
        input=InputSpec(**_input(_Section(data["input"], "input", _INPUT_KEYS), base)),
        prompt=_prompt(_Section(data.get("prompt", {}), "prompt", _PROMPT_KEYS)),
        generation=_check_model(
            GenerationSettings(**_parse_generation(generation, base)), provider.model
        ),
        limits=LimitsSpec(
            **_values(_Section(data.get("limits", {}), "limits", _LIMITS_KEYS))
        ),
        output=OutputSpec(
            **_output(_Section(data.get("output", {}), "output", _OUTPUT_KEYS), base)
        ),
        pricing=pricing,
        media=MediaSpec(
            **_values(_Section(data.get("media", {}), "media", _MEDIA_KEYS))
        ),
        mode=top.get("mode", "online"),
        batch=BatchSpec(
            **_batch(_Section(data.get("batch", {}), "batch", _BATCH_KEYS))
        ),
        warnings=warnings,
    )
    spec = _with_tiers_and_cache(spec, data.get("cache", {}))
    _check_mode(spec)
    return spec


def _with_tiers_and_cache(spec: JobSpec, cache: Any) -> JobSpec:
    """The checks across tables of `service_tier = "auto"` and `[cache]`, and the spec with its cache."""
    if spec.generation.service_tier == "auto" and spec.limits.deadline is None:
        raise _Bad(
            "generation.service_tier",
            '"auto" needs [limits] deadline, e.g. deadline = "06:00" (local time) or an ISO timestamp',
        )
    parsed = _cache(
        _Section(cache, "cache", CACHE_KEYS),
        media_dir=spec.input.media_dir,
        kind=spec.provider.kind,
        has_prefix=bool(spec.prompt.system or spec.generation.tools),
    )
    return replace(spec, cache=parsed)


def _check_mode(spec: JobSpec) -> None:
    """Batch mode needs a provider with a batch API that pipeline can drive end to end."""
    if spec.mode != "batch":
        return
    if spec.provider.kind == "vertex":
        raise _Bad(
            "mode",
            'batch mode is not available on kind = "vertex" (Vertex batch prediction reads Cloud Storage or '
            'BigQuery and writes there, which pipeline does not do); use kind = "gemini", or mode = "online"',
        )
    base = (spec.provider.base_url or "").lower()
    if spec.provider.kind == "openai" and "/v1beta/openai" in base:
        raise _Bad(
            "mode",
            "batch mode is not available on Google's OpenAI-compatible endpoint (/v1beta/openai/): Google "
            "documents only creating a batch and reading its status there, with files through the native Files "
            'API; use kind = "gemini" for the same Batch API, or mode = "online"',
        )


def _model_warnings(
    provider: ProviderSpec, pricing: PricingSpec, today: date | None
) -> tuple[str, ...]:
    """The catalog's word on the model id: raises `_Bad` for a shut-down id on Google's own API."""
    notice = lifecycle_notice(provider.model, provider.kind, on=today)
    if notice is None:
        return ()
    if notice.level == "error":
        raise _Bad("provider.model", notice.message)
    message = notice.message
    if notice.reason == "unknown":
        priced = price_for(provider.model, pricing.overrides()) is not None
        if priced and provider.kind == "openai":
            return ()  # an aggregator's own name, with its own prices: nothing to say
        if not priced:
            message += (
                "; it has no built-in price, so costs are unknown (and budget_usd is refused) until [pricing] "
                "gives input_per_million and output_per_million"
            )
    return (f"provider.model: {message}",)


_PROMPT_KEYS: dict[str, Parser] = {"system": _text, "template": _text}


def _prompt(section: _Section) -> PromptSpec:
    template = section.get("template")
    if template is not None:
        try:
            parse_template(template)
        except ValueError as exc:
            raise _Bad("prompt.template", str(exc)) from None
    return PromptSpec(system=section.get("system"), template=template)


def _canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
