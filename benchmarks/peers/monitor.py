"""One tool run, watched from outside: the process, its memory, the emulator's ledger over time, and kill -9.

The tool starts in its own session (so kill -9 reaches every process it spawned), pinned to the client core. From
the client side: wall time from spawn to exit, CPU seconds from `os.wait4` (the kernel's rusage of that child and
its reaped descendants; `getrusage(RUSAGE_CHILDREN)` deltas give the same figure, but tools that run side by side
need it per child), and every 0.1 s the RSS of the whole process tree and each process's VmHWM (its peak RSS,
kept by the kernel). Not `ru_maxrss`: on exec, Linux folds the old address space's high-water mark into it, so a
child spawned by a large parent (this harness holds ledgers and pyarrow) reports at least the parent's size.
From the ledger:
the time to first request (polled every 10 ms until the emulator has seen one) and, every `poll_s`, how many
requests it has answered, how many with 200 and how many with 429.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .emulator import EmulatorProcess, cores, pin
from .tools import Launch

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Sample:
    """The ledger at `t` seconds after the first spawn: requests answered, of which 200 and 429."""

    t: float
    requests: int
    ok: int
    rate_limited: int


@dataclass(slots=True)
class Attempt:
    """One process: how it ended and what it cost."""

    returncode: int
    wall_s: float
    cpu_s: float
    killed: bool = False  # by the kill -9 of the scenario
    capped: bool = False  # stopped at the scenario's time cap
    stderr_tail: str = ""


@dataclass(slots=True)
class Watched:
    """Everything observed during one tool's run of a scenario (one or two processes)."""

    attempts: list[Attempt] = field(default_factory=list)
    ttfr_s: float | None = None
    samples: list[Sample] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(
        default_factory=list
    )  # (t, MB of the whole tree)
    peak_by_pid: dict[int, float] = field(default_factory=dict)  # VmHWM, MB
    killed_at_s: float | None = None


def ledger_counts(ledger: dict[str, object]) -> tuple[int, int, int]:
    """(requests answered, answered 200, answered 429) from a ledger document."""
    ok = 0
    routes = ledger.get("requests_by_route")
    if isinstance(routes, dict):
        for statuses in routes.values():
            ok += int(statuses.get("200", 0))
    return int(ledger.get("requests", 0)), ok, int(ledger.get("rate_limited", 0))  # type: ignore[call-overload]


class Watcher:
    """Runs `launch` (twice when `kill_after_ok` is set: killed once that many 200s are in the ledger)."""

    def __init__(
        self,
        launch: Launch,
        emulator: EmulatorProcess,
        *,
        poll_s: float | None,
        cap_s: float,
        kill_after_ok: int | None = None,
        log: Path | None = None,
        pin: bool = True,
    ) -> None:
        self.launch = launch
        self.emulator = emulator
        self.poll_s = poll_s
        self.cap_s = cap_s
        self.kill_after_ok = kill_after_ok
        self.log = log
        self.pin = pin
        self.watched = Watched()
        self._t0 = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._done = threading.Event()
        self._kill_now = threading.Event()

    def run(self) -> Watched:
        self._t0 = time.monotonic()
        poller = threading.Thread(target=self._poll, daemon=True)
        sampler = threading.Thread(target=self._sample_rss, daemon=True)
        poller.start()
        sampler.start()
        try:
            first = self._spawn_and_wait(kill_on_signal=self.kill_after_ok is not None)
            self.watched.attempts.append(first)
            if first.killed:
                self.watched.attempts.append(self._spawn_and_wait(kill_on_signal=False))
        finally:
            self._done.set()
            poller.join()
            sampler.join()
        self._record(final=True)
        return self.watched

    def _spawn_and_wait(self, *, kill_on_signal: bool) -> Attempt:
        _, client_core = cores()
        stderr_path = (
            self.log or Path("/tmp")
        ) / f"stderr-{len(self.watched.attempts)}.txt"
        stderr_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        remaining = max(1.0, self.cap_s - (started - self._t0))
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                list(self.launch.argv),
                env=dict(self.launch.env),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
            if self.pin:
                pin(process.pid, client_core)
            self._process = process
            capped = threading.Event()

            def stop(reason: threading.Event) -> None:
                reason.set()
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

            timer = threading.Timer(remaining, stop, args=(capped,))
            timer.start()
            exited = threading.Event()
            killer = threading.Thread(
                target=self._kill_when_asked,
                args=(process.pid, kill_on_signal, exited),
                daemon=True,
            )
            killer.start()
            try:
                _, status, usage = os.wait4(
                    process.pid, 0
                )  # the only wait: nothing else may reap it
            finally:
                exited.set()
                timer.cancel()
                self._process = None
                killer.join()
            process.returncode = os.waitstatus_to_exitcode(status)
            killed = kill_on_signal and self._kill_now.is_set() and not capped.is_set()
            if (
                killed or capped.is_set()
            ):  # whatever the tool started must not outlive it
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        return Attempt(
            returncode=process.returncode,
            wall_s=time.monotonic() - started,
            cpu_s=usage.ru_utime + usage.ru_stime,
            killed=killed,
            capped=capped.is_set(),
            stderr_tail=tail,
        )

    def _kill_when_asked(self, pid: int, armed: bool, exited: threading.Event) -> None:
        if not armed:
            return
        while not exited.is_set() and not self._done.is_set():
            if self._kill_now.wait(0.05):
                self.watched.killed_at_s = time.monotonic() - self._t0
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return

    def _poll(self) -> None:
        # Time to first request: fine-grained polling while the ledger is still tiny.
        while not self._done.is_set():
            requests, _, _ = ledger_counts(self._ledger_head())
            in_flight = self._in_flight
            if requests + in_flight > 0:
                self.watched.ttfr_s = time.monotonic() - self._t0
                break
            time.sleep(0.01)
        if self.poll_s is None and self.kill_after_ok is None:
            return
        interval = (
            min(self.poll_s or 0.25, 0.25)
            if self.kill_after_ok is not None
            else self.poll_s or 1.0
        )
        while not self._done.wait(interval):
            self._record(final=False)

    _in_flight = 0

    def _ledger_head(self) -> dict[str, object]:
        try:
            ledger = self.emulator.ledger()
        except OSError:
            return {}
        self._in_flight = int(ledger.get("in_flight", 0))
        return ledger

    def _record(self, *, final: bool) -> None:
        try:
            ledger = self.emulator.ledger()
        except OSError:
            return
        requests, ok, rate_limited = ledger_counts(ledger)
        self.watched.samples.append(
            Sample(time.monotonic() - self._t0, requests, ok, rate_limited)
        )
        if (
            not final
            and self.kill_after_ok is not None
            and self.watched.killed_at_s is None
            and ok >= self.kill_after_ok
        ):
            self._kill_now.set()

    def _sample_rss(self) -> None:
        while not self._done.wait(0.1):
            process = self._process
            if process is None:
                continue
            try:
                root = psutil.Process(process.pid)
                tree = [root, *root.children(recursive=True)]
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            total = 0
            for member in tree:
                try:
                    total += member.memory_info().rss
                except (
                    psutil.NoSuchProcess,
                    psutil.ZombieProcess,
                    psutil.AccessDenied,
                ):
                    continue
                hwm = high_water_mb(member.pid)
                if hwm is not None:
                    self.watched.peak_by_pid[member.pid] = max(
                        self.watched.peak_by_pid.get(member.pid, 0.0), hwm
                    )
            if total:  # 0: the process exited between the listing and the reads
                self.watched.rss.append((time.monotonic() - self._t0, total / MB))


def high_water_mb(pid: int) -> float | None:
    """VmHWM: the kernel's peak RSS of the process's current address space (reset by exec, unlike ru_maxrss)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None
