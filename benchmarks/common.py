"""Helpers shared by the core benchmarks: the emulator in its own process, job files, and timed client runs.

The machines these run on are shared and noisy, so every benchmark compares two figures measured in the same
run (a ratio), never an absolute timing against a fixed threshold.

Cores: with two or more cores the emulator is pinned to the first one and the client under test to the last,
so the server never competes with the client for a core (or the client's GIL). With one core both share it,
and the figures say so.

The client runs as users run it: `python -m pipeline run JOB --out DIR --quiet` in a subprocess (`run_cli`).
Where a benchmark needs an engine switch that the CLI does not expose (`RunOptions(durable_journal=False)`),
`run_engine` runs `pipeline.engine.run_job` in a subprocess instead, with the same settings otherwise.
Peak RSS is the child's `VmHWM` (the kernel's high-water mark of the running program, so a 50 ms sampling
period misses nothing but the last instants before exit), with `ru_maxrss` from `os.wait4` as a cross-check (on
Linux it also counts the forking parent's RSS, copied at fork).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import psutil

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
MODEL = "gemini-3.1-pro-preview"
MB = 1024 * 1024
_URL = re.compile(r"(http://\S+?)/v1beta\b")


def cores() -> tuple[int, int | None]:
    """(the emulator's core, the client's core or None when there is only one)."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return available[0], None
    return available[0], available[-1]


def describe_cores() -> str:
    server, client = cores()
    if client is None:
        return f"emulator and client share core {server} (one core available)"
    return f"emulator pinned to core {server}, client to core {client}"


class Emulator:
    """`python -m pipeline emulator --port 0 FLAGS` in its own process, pinned to its own core.

    with Emulator("--latency-ms", "1000") as emu:
        emu.base_url, emu.ledger()
    """

    def __init__(self, *flags: str, command: Sequence[str] | None = None) -> None:
        """`command` replaces the emulator by another server that prints "... http://HOST:PORT/v1beta" once
        it listens (the overhead benchmark's minimal server)."""
        self.flags = flags
        self.command = command
        self.base_url = ""
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        server_core, _ = cores()
        command = (
            list(self.command)
            if self.command is not None
            else [
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
        )
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        os.sched_setaffinity(self.process.pid, {server_core})
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed once it listens
        found = _URL.search(line)
        if found is None:
            self.__exit__(None, None, None)
            raise SystemExit(f"the emulator did not start: {line!r}")
        self.base_url = found.group(1)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
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
            f"{self.base_url}/_emulator/ledger", timeout=30
        ) as reply:
            return dict(json.load(reply))

    def requests_seen(self) -> tuple[int, int]:
        """(requests answered, of which 429) so far."""
        ledger = self.ledger()
        return int(ledger["requests"]), int(ledger["rate_limited"])


def prompt_for(i: int) -> str:
    return f"Summarise record {i} of the quarterly report in one sentence: revenue, costs and outlook."


def write_rows(path: Path, count: int) -> Path:
    """`count` rows `{"id": "row-000001", "prompt": ...}`, written in chunks (never all in memory)."""
    with path.open("w", encoding="utf-8") as out:
        chunk: list[str] = []
        for i in range(count):
            chunk.append(json.dumps({"id": f"row-{i:07d}", "prompt": prompt_for(i)}))
            if len(chunk) == 10_000:
                out.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            out.write("\n".join(chunk) + "\n")
    return path


def write_job(
    directory: Path,
    rows: Path,
    base_url: str,
    *,
    name: str = "bench",
    concurrency: int = 64,
    requests_per_minute: float | None = None,
    max_attempts: int = 4,
    request_timeout_s: float = 60.0,
) -> Path:
    """A job spec like the contract's, aimed at the emulator; no generation settings (the smallest request)."""
    limits = [
        f"concurrency = {concurrency}",
        f"max_attempts = {max_attempts}",
        f"request_timeout_s = {request_timeout_s!r}",
    ]
    if requests_per_minute is not None:
        limits.append(f"requests_per_minute = {requests_per_minute!r}")
    text = "\n".join(
        [
            f'name = "{name}"',
            "",
            "[provider]",
            'kind = "gemini"',
            f'model = "{MODEL}"',
            f"base_url = {json.dumps(base_url)}",
            "",
            "[input]",
            f"path = {json.dumps(str(rows))}",
            "",
            "[limits]",
            *limits,
            "",
        ]
    )
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class ClientRun:
    """How one client process went: wall time from spawn to exit, its exit code and its peak RSS."""

    wall_s: float
    cpu_s: float  # user + system CPU seconds of the child (all its threads), from wait4
    returncode: int
    peak_rss_mb: float  # ru_maxrss from wait4 (on Linux it also counts the forking parent's RSS, copied at fork)
    sampled_rss_mb: (
        float  # the highest VmHWM / RSS read every 50 ms: the child's own peak
    )
    stderr: str

    def check(self, what: str) -> None:
        if self.returncode != 0:
            raise SystemExit(f"{what} exited {self.returncode}:\n{self.stderr[-3000:]}")


def _client_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_ACCESS_TOKEN"))
    }
    environ["GEMINI_API_KEY"] = KEY
    environ.update(extra or {})
    return environ


def run_process(
    command: Sequence[str], *, timeout_s: float, env: Mapping[str, str] | None = None
) -> ClientRun:
    """Run `command` pinned to the client core; wall time, exit code and peak RSS (ru_maxrss via wait4)."""
    _, client_core = cores()
    stderr_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}.err"
    with stderr_path.open("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=_client_env(env),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        if client_core is not None:  # at once: before the interpreter has even started
            os.sched_setaffinity(process.pid, {client_core})
        sampler = _RssSampler(process.pid)
        sampler.start()
        killer = threading.Timer(timeout_s, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
            sampler.stop()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        text = stderr.read()
    stderr_path.unlink(missing_ok=True)
    return ClientRun(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        returncode=process.returncode,
        peak_rss_mb=usage.ru_maxrss * 1024 / MB,  # Linux: kilobytes
        sampled_rss_mb=sampler.peak / MB,
        stderr=text,
    )


class _RssSampler(threading.Thread):
    """The highest RSS of one process: its `VmHWM` (the kernel's high-water mark for the running program) and
    its current RSS, read every 50 ms until `stop()`."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._done = threading.Event()

    def run(self) -> None:
        try:
            process = psutil.Process(self.pid)
            while not self._done.is_set():
                self.peak = max(self.peak, process.memory_info().rss, _vm_hwm(self.pid))
                self._done.wait(0.05)
        except (
            psutil.NoSuchProcess,
            psutil.ZombieProcess,
            psutil.AccessDenied,
            OSError,
        ):
            return

    def stop(self) -> None:
        self._done.set()
        self.join()


def _vm_hwm(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def run_cli(job: Path, out: Path, *extra: str, timeout_s: float = 1800.0) -> ClientRun:
    """`python -m pipeline run JOB --out OUT --quiet`, as a user runs it."""
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        str(job),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    return run_process(command, timeout_s=timeout_s)


_ENGINE = """
import sys
from pathlib import Path
import anyio
from pipeline.engine import RunOptions, run_job
from pipeline.spec import load_spec
spec = load_spec(Path(sys.argv[1]))
options = RunOptions(out_dir=Path(sys.argv[2]), durable_journal=sys.argv[3] == "durable", handle_signals=False)
result = anyio.run(run_job, spec, options)
rows = result.summary.get("rows", {})
sys.exit(0 if all(n == 0 for s, n in rows.items() if s not in ("ok", "total")) else 1)
"""


def run_engine(
    job: Path, out: Path, *, durable: bool, timeout_s: float = 1800.0
) -> ClientRun:
    """`run_job(spec, RunOptions(durable_journal=durable))` in a subprocess: the CLI minus the progress display."""
    command = [
        sys.executable,
        "-c",
        _ENGINE,
        str(job),
        str(out),
        "durable" if durable else "memory",
    ]
    return run_process(command, timeout_s=timeout_s)


def summary_of(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "summary.json").read_text()))


def rows_ok(out: Path) -> int:
    rows = summary_of(out).get("rows", {})
    return int(rows.get("ok", 0)) if isinstance(rows, dict) else 0


def verdict(name: str, ratio: float, target: str, passed: bool) -> str:
    return (
        f"{name}: ratio {ratio:.3f} (target {target}): {'PASS' if passed else 'FAIL'}"
    )


@contextmanager
def elapsed() -> Iterator[list[float]]:
    box = [0.0]
    started = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - started
