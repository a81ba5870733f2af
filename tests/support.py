"""Helpers shared by the tests: writing job specs and running the CLI as a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_toml(
    path: Path, top: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]]
) -> Path:
    lines = [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    for table, entries in tables.items():
        lines.append(f"\n[{table}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in entries.items())
    path.write_text("\n".join(lines) + "\n")
    return path


JobWriter = Callable[..., Path]


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run `python -m pipeline ARGS` as a user would, with a clean key environment unless `env` adds one."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_ACCESS_TOKEN"))
    }
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
