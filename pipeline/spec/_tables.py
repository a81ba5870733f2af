"""The tables of a job spec other than `[generation]` and `[prompt]`: their keys, and the checks across keys.

Each builder takes its `_Section` and returns the keyword arguments of its record (`spec.ProviderSpec`,
`spec.InputSpec`, ...), which `spec._build` constructs; paths are resolved against the spec's folder.
Errors are `_Bad`, as for every spec value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipeline.records.columns import OUTPUT

from ._deadline import _deadline
from ._values import (
    Parser,
    _Bad,
    _boolean,
    _choice,
    _env_name,
    _integer,
    _name,
    _number,
    _path,
    _Section,
    _strings,
    _text,
    _url,
)

# Columns the results always have (pipeline.records.columns); a kept input field may not shadow one.
OUTPUT_COLUMNS = tuple(c.name for c in OUTPUT)

# The top level of a spec: its tables and its name.
_TABLE_NAMES = "provider input prompt generation limits output pricing media cache"
_TABLES = [*_TABLE_NAMES.split(), "batch"]
_TOP_KEYS: dict[str, Parser] = dict.fromkeys(_TABLES, lambda _key, value: value) | {
    "name": _name,
    "mode": _choice(("online", "batch")),
}
_SECRET_KEYS = ("api_key", "apikey", "key", "token", "access_token", "secret")


def _refuse_secrets(data: dict[str, Any]) -> None:
    """Checked before unknown keys, with a message of its own; the value is never shown."""
    for secret in _SECRET_KEYS:
        for key in (secret, f"provider.{secret}"):
            table = data.get("provider") if key.startswith("provider.") else data
            if isinstance(table, dict) and secret in table:
                raise _Bad(
                    key,
                    "a key never goes in a job spec: put it in an environment variable and write "
                    'api_key_env = "GEMINI_API_KEY" (its name) under [provider] instead',
                )


def _values(section: _Section) -> dict[str, Any]:
    """A table without cross-key checks ([limits], [pricing], [media]): its keys, parsed."""
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


def _provider(section: _Section) -> dict[str, Any]:
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
    return {
        "kind": kind,
        "model": model,
        "base_url": section.get("base_url"),
        "api_key_env": section.get("api_key_env"),
        "project": section.get("project"),
        "location": section.get("location", "global"),
        "token_env": section.get("token_env"),
        "quota_project": section.get("quota_project"),
        "image_endpoint": section.get("image_endpoint", "chat"),
    }


_INPUT_KEYS: dict[str, Parser] = {"path": _path, "media_dir": _path}


def _input(section: _Section, base: Path) -> dict[str, Any]:
    # A URL is checked when it is first read: loading a spec sends nothing.
    given = section.require("path", 'path = "rows.jsonl"')
    path: Path | str = given
    if not is_url(given):
        local = (base / given).resolve()
        if not local.is_file():
            raise _Bad(
                "input.path",
                f"expected an existing JSONL or Parquet file, but {local} does not exist",
            )
        path = local
    media_dir: Path | str | None = None
    if "media_dir" in section:
        given_dir: str = section.get("media_dir")
        media_dir = given_dir.rstrip("/")
        if not is_url(given_dir):
            folder = (base / given_dir).resolve()
            if not folder.is_dir():
                raise _Bad(
                    "input.media_dir",
                    f"expected an existing folder, but {folder} is not one",
                )
            media_dir = folder
    return {"path": path, "media_dir": media_dir}


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(value: str) -> bool:
    """`s3://bucket/key`, `gs://...` or any other `scheme://` except `file://`: a remote location."""
    return bool(_URL.match(value)) and not value.lower().startswith("file://")


_LIMITS_KEYS: dict[str, Parser] = {
    "concurrency": _integer(1),
    "requests_per_minute": _number(positive=True),
    "tokens_per_minute": _number(positive=True),
    "requests_per_day": _integer(1),
    "max_attempts": _integer(1, 100),
    "request_timeout_s": _number(positive=True),
    "budget_usd": _number(positive=True),
    "flex_fallback_after_s": _number(0),
    "deadline": _deadline,
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
        "input_audio_per_million",
        "cached_input_audio_per_million",
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
_BATCH_KEYS: dict[str, Parser] = {
    "max_file_bytes": _integer(1024),
    "max_job_tokens": _integer(1),
    "max_job_rows": _integer(1),
    "poll_interval_s": _number(positive=True),
    "max_poll_interval_s": _number(positive=True),
    "label": _text,
}


def _batch(section: _Section) -> dict[str, Any]:
    values = _values(section)
    if "poll_interval_s" in values:
        first = values["poll_interval_s"]
        values.setdefault("max_poll_interval_s", max(first, 120.0))
        if values["max_poll_interval_s"] < first:
            raise _Bad(
                "batch.max_poll_interval_s",
                f"expected at least poll_interval_s ({first:g}), got {values['max_poll_interval_s']:g}",
            )
    label = values.get("label")
    if label is not None and len(label) > 200:
        raise _Bad(
            "batch.label",
            "expected at most 200 characters (it goes in each job's display name)",
        )
    return values


def _output(section: _Section, base: Path) -> dict[str, Any]:
    keep = section.get("keep_fields", ())
    for name in keep:
        if name in OUTPUT_COLUMNS:
            raise _Bad(
                "output.keep_fields",
                f'"{name}" is already an output column; remove it from keep_fields',
            )
    directory = section.get("dir")
    if directory is not None and is_url(directory):
        resolved: Path | str | None = directory.rstrip("/")
    else:
        resolved = None if directory is None else (base / directory).resolve()
    return {
        "dir": resolved,
        "keep_fields": keep,
    }
