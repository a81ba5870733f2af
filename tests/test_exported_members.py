"""The public surface: `pipeline.__all__` (documented in README.md) and every package's door (httpx's
tests/test_exported_members.py, anyio's tests/test_all_attributes.py)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import pipeline

ROOT = Path(__file__).resolve().parents[1]

UNCHECKED = ("pipeline.__main__",)


def public_modules() -> list[str]:
    """Every module or package under pipeline whose dotted name has no `_`-prefixed part."""
    names = ["pipeline"]
    for info in pkgutil.walk_packages(pipeline.__path__, "pipeline."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts) or info.name.startswith(
            UNCHECKED
        ):
            continue
        names.append(info.name)
    return names


def test_all_is_a_tuple_of_names_that_exist() -> None:
    assert isinstance(pipeline.__all__, tuple)
    assert len(set(pipeline.__all__)) == len(pipeline.__all__)
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None, name


def test_every_exported_name_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in pipeline.__all__ if f"`{name}" not in section]
    assert missing == [], "add them to README.md's Python API section"


def test_run_and_estimate_stay_functions_after_the_engine_loads() -> None:
    import pipeline.engine
    import pipeline.estimator
    from pipeline.engine import run_job

    assert callable(pipeline.run) and pipeline.run.__name__ == "run"
    assert callable(pipeline.estimate) and pipeline.estimate.__name__ == "estimate"
    assert sys.modules["pipeline.engine"].run_job is run_job
    assert "run" in dir(pipeline) and "load_job" in dir(pipeline)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pipeline.nothing  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.parametrize("name", public_modules())
def test_every_public_module_has_an_all_tuple_of_names_that_exist(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, tuple), f"{name}.__all__ must be a tuple"
    for member in exported:
        assert hasattr(module, member), (
            f"{name}.__all__ names {member!r}, which it lacks"
        )


def test_import_pipeline_loads_none_of_the_package() -> None:
    code = (
        "import sys, pipeline; "
        "print(sorted(m for m in sys.modules if m.startswith('pipeline.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert (
        loaded == "[]"
    )  # the API is imported on first use, so `import pipeline` stays cheap
