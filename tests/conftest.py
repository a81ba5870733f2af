"""Shared fixtures: job files written into tmp_path."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from support import JobWriter, write_toml


@pytest.fixture
def make_job(tmp_path: Path) -> JobWriter:
    """Write rows and a spec into tmp_path; returns the spec's path. Tables override the defaults."""

    def make(
        rows: Iterable[Mapping[str, Any]] | None = None,
        *,
        name: str = "job",
        raw_lines: Iterable[str] | None = None,
        **tables: Mapping[str, Any],
    ) -> Path:
        data = tmp_path / f"{name}.jsonl"
        lines = (
            list(raw_lines)
            if raw_lines is not None
            else [json.dumps(row) for row in rows or []]
        )
        data.write_text("\n".join(lines) + "\n")
        spec: dict[str, dict[str, Any]] = {
            "provider": {"kind": "gemini", "model": "gemini-3.1-pro-preview"},
            "input": {"path": str(data)},
            "limits": {"concurrency": 16, "max_attempts": 4, "request_timeout_s": 10.0},
        }
        for table, entries in tables.items():
            spec.setdefault(table, {}).update(entries)
        return write_toml(tmp_path / f"{name}.toml", {"name": name}, spec)

    return make
