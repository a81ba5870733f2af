"""A full disk in the middle of a run: one clear message, exit 2, no traceback; the next run resumes."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from support import JobWriter, run_cli

from pipeline.emulator import EmulatorConfig, EmulatorThread

KEY = {"GEMINI_API_KEY": "test-key-123456"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 600 KB filesystem (tmpfs), grown later with a remount; skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_mid_run_is_one_clear_error_and_the_next_run_resumes(
    make_job: JobWriter, small_disk: Path
) -> None:
    rows = [
        {"id": f"r{i:05d}", "prompt": f"r{i:05d} " + "tell me about it " * 4}
        for i in range(5000)
    ]
    out = small_disk / "out"
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            rows, provider={"base_url": emulator.base_url}, limits={"concurrency": 16}
        )
        full = run_cli("run", str(job), "--out", str(out), env=KEY, timeout=300)
        assert full.returncode == 2, full.stderr
        assert "Traceback" not in full.stderr and "ExceptionGroup" not in full.stderr
        assert "OutputError" in full.stderr and str(out) in full.stderr
        assert "run the job again" in full.stderr
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        again = run_cli(
            "run", str(job), "--out", str(out), "--quiet", env=KEY, timeout=300
        )
    assert again.returncode == 0, again.stderr
    table = ds.dataset(out / "results").to_table(columns=["id", "status"]).to_pylist()
    assert len(table) == 5000 and Counter(r["status"] for r in table) == {"ok": 5000}
