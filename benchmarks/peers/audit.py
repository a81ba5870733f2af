"""`--audit-network`: run each peer once under strace and list every connect() that leaves loopback.

The machine has no network beyond loopback, so a call that tries to leave would only fail (or hang on DNS);
this proves the switches in `tools.py` keep every peer on 127.0.0.1, rather than relying on that failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import data
from .emulator import EmulatorProcess
from .scenarios import FULL, scenarios
from .tools import launch

_CONNECT = re.compile(
    r"connect\(\d+, \{sa_family=(AF_INET6?), [^}]*?(?:inet_addr\(\"([^\"]+)\"\)|inet_pton\(AF_INET6, \"([^\"]+)\")"
)
LOOPBACK = ("127.", "::1", "::ffff:127.")


def audit_network(tools: list[str]) -> int:
    """0 when every connect() of every tool went to loopback; prints what it found."""
    if shutil.which("strace") is None:
        print("strace is not installed (apt-get install strace); cannot audit")
        return 2
    steady = next(s for s in scenarios(FULL) if s.name == "steady")
    leaks = 0
    with tempfile.TemporaryDirectory(prefix="peers-audit-") as tmp:
        work = Path(tmp)
        rows = data.write_rows(work / "rows.jsonl", 40)
        for tool in tools:
            with EmulatorProcess(steady.emulator_flags) as emu:
                ready = launch(tool, steady, work / tool, emu.base_url, rows, None)
                trace = work / f"{tool}.strace"
                subprocess.run(
                    [
                        "strace",
                        "-f",
                        "-e",
                        "trace=connect",
                        "-o",
                        str(trace),
                        *ready.argv,
                    ],
                    env=dict(ready.env),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=300,
                    check=False,
                )
            targets = sorted(
                {
                    a or b
                    for _, a, b in _CONNECT.findall(trace.read_text(errors="replace"))
                }
            )
            outside = [t for t in targets if not t.startswith(LOOPBACK)]
            leaks += len(outside)
            print(
                f"{tool}: connect() targets {targets or ['none']}"
                + (f"; OUTSIDE LOOPBACK: {outside}" if outside else "")
            )
    return 1 if leaks else 0
