"""The architecture's rules, checked on every test run: layers (import-linter), lint (ruff) and types (mypy)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_hold() -> None:
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("import-linter is a test dependency: pip install -e '.[test]'")
    result = subprocess.run(
        [lint_imports], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "pipeline", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes() -> None:
    """The typing gate of scripts/check: mypy --strict as configured in pyproject.toml, over the whole
    package (the emulator included)."""
    if shutil.which("mypy") is None:
        pytest.fail("mypy is a test dependency: pip install -e '.[test]'")
    result = subprocess.run(
        [str(ROOT / "scripts" / "typecheck")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
