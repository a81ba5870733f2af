"""The peers' virtual environments: created and filled at benchmark time, never committed.

`benchmarks/.venv-curator` holds `bespokelabs-curator`, `benchmarks/.venv-litellm` holds `litellm` (both are
git-ignored by `/benchmarks/.venv*/`). Each peer gets its own environment because their pins disagree (Curator
pins an older litellm than the Router driver wants) and neither should touch the project's own environment.
A peer that cannot be installed (no registry, a broken release) is reported and left out; the others run.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
PACKAGES = {"curator": "bespokelabs-curator", "litellm": "litellm"}
IMPORTS = {"curator": "bespokelabs.curator", "litellm": "litellm"}


@dataclass(frozen=True, slots=True)
class PeerEnv:
    """A peer's environment: its interpreter, the package's version, or why it is not usable."""

    tool: str
    python: Path
    version: str | None
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None


def env_dir(tool: str) -> Path:
    return BENCHMARKS / f".venv-{tool}"


def python_of(tool: str) -> Path:
    return env_dir(tool) / "bin" / "python"


def ensure(tool: str, *, install: bool = True) -> PeerEnv:
    """The environment of `tool`, created and installed first when it is missing and `install` is set."""
    package = PACKAGES[tool]
    python = python_of(tool)
    found = _version(python, package)
    if found is not None and _imports(python, IMPORTS[tool]):
        return PeerEnv(tool, python, found)
    if not install:
        return PeerEnv(
            tool,
            python,
            None,
            f"{env_dir(tool)} has no working {package}; run without --no-install",
        )
    print(
        f"installing {package} into {env_dir(tool)} (once; a few minutes)", flush=True
    )
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir(tool))
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            package,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return PeerEnv(
            tool, python, None, f"pip install {package} failed: {' / '.join(tail)}"
        )
    found = _version(python, package)
    if found is None or not _imports(python, IMPORTS[tool]):
        return PeerEnv(tool, python, None, f"{package} installed but does not import")
    return PeerEnv(tool, python, found)


def _version(python: Path, package: str) -> str | None:
    if not python.exists():
        return None
    done = subprocess.run(
        [
            str(python),
            "-c",
            f"import importlib.metadata as m; print(m.version({package!r}))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def _imports(python: Path, module: str) -> bool:
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "TELEMETRY_ENABLED": "false",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [str(python), "-c", f"import {module}"],
        capture_output=True,
        env=env,
        check=False,
    )
    return done.returncode == 0


def own_versions() -> dict[str, str]:
    """Versions of what the project's own tools run on, for the doc."""
    from importlib import metadata

    versions = {"python": sys.version.split()[0]}
    for package in ("pipeline", "aiohttp"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "?"
    return versions


def cpu_description() -> str:
    """Cores, and how the suite uses them, for the doc."""
    import os

    available = sorted(os.sched_getaffinity(0))
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{len(available)} cores ({model})"
