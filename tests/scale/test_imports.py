"""A run without --ray never imports Ray (nor the cluster package)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import ROOT, JobWriter

PROBE = """
import atexit, sys
atexit.register(lambda: print("loaded:", sorted(m for m in ("ray", "pipeline.modes.cluster") if m in sys.modules)))
from pipeline.cli import main
sys.argv = ["pipeline", *sys.argv[1:]]
main()
"""


def test_a_run_without_ray_never_imports_ray(
    make_job: JobWriter, tmp_path: Path
) -> None:
    job = make_job([{"id": "a", "prompt": "hello"}])
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run", str(job), "--emulator", "--quiet",
         "--out", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "loaded: []" in done.stdout
    assert (
        json.loads((tmp_path / "out" / "summary.json").read_text())["rows"]["ok"] == 1
    )
