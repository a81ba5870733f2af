"""A run whose requests all have their body in memory never imports aiohttp's client (~200 ms of start-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import ROOT, JobWriter

from pipeline.emulator import EmulatorConfig, EmulatorThread

PROBE = """
import atexit, sys
watched = ("aiohttp", "pipeline.transport._aiohttp")
atexit.register(lambda: print("loaded:", sorted(m for m in watched if m in sys.modules)))
from pipeline.cli import main
sys.argv = ["pipeline", *sys.argv[1:]]
main()
"""


def test_a_run_of_whole_bodies_never_imports_aiohttp(
    make_job: JobWriter, tmp_path: Path
) -> None:
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            [{"id": f"r{i}", "prompt": "hello"} for i in range(5)],
            provider={"base_url": emulator.base_url},
        )
        done = subprocess.run(
            [sys.executable, "-c", PROBE, "run", str(job), "--quiet", "--out", str(tmp_path / "out")],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "GEMINI_API_KEY": "test-key"},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "loaded: []" in done.stdout
    assert (
        json.loads((tmp_path / "out" / "summary.json").read_text())["rows"]["ok"] == 5
    )
