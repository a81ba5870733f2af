"""One emulator process per tool run: `python -m pipeline emulator --port 0 FLAGS`, pinned to the server core.

Each tool gets a fresh emulator, so its ledger, its quota windows and its fault draws are its own, and tools that
run side by side never share a limit. The ledger is read over HTTP (`GET /_emulator/ledger`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[2]
KEY = "bench-key"
_URL = re.compile(r"(http://127\.0\.0\.1:\d+)/v1beta\b")


def cores() -> tuple[int, int | None]:
    """(the emulators' core, the clients' core or None when there is only one)."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return available[0], None
    return available[0], available[-1]


def pin(pid: int, core: int | None) -> None:
    """Pin a freshly started process to `core` (what it starts afterwards inherits the affinity)."""
    if core is None:
        return
    try:
        os.sched_setaffinity(pid, {core})
    except OSError:  # it already exited: nothing to pin
        pass


class EmulatorProcess:
    """The emulator in its own process; `base_url` once started, `ledger()` while it runs.

    with EmulatorProcess(["--rpm", "1200"]) as emu:
        emu.base_url, emu.ledger()
    """

    def __init__(self, flags: list[str] | tuple[str, ...]) -> None:
        self.flags = list(flags)
        self.base_url = ""
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        server_core, _ = cores()
        command = [
            sys.executable,
            "-m",
            "pipeline",
            "emulator",
            "--port",
            "0",
            "--api-key",
            KEY,
            *self.flags,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        pin(self.process.pid, server_core)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed once it listens
        found = _URL.search(line)
        if found is None:
            self.__exit__(None, None, None)
            raise RuntimeError(
                f"the emulator did not start ({' '.join(command)}): {line!r}"
            )
        self.base_url = found.group(1)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def ledger(self) -> dict[str, Any]:
        with urllib.request.urlopen(
            f"{self.base_url}/_emulator/ledger", timeout=60
        ) as reply:
            return dict(json.load(reply))
