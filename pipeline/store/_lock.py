"""One run per output directory: an exclusive `flock` on DIR/.lock, held for the whole run.

`flock` is released by the kernel when the holder dies, even by `kill -9`, so a crashed run never leaves a
stale lock behind; the pid written into the file is only there to name the holder in the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from pipeline.errors import OutputError

LOCK_NAME = ".lock"

# `pipeline status` probes the lock for a moment (see `holder_pid`); a starting run retries for longer than
# that probe could ever hold it, so a status call never makes a run fail to start.
_ACQUIRE_TRIES = 5
_ACQUIRE_PAUSE_S = 0.04


class RunLock:
    """The held lock; `release()` (idempotent) lets the next run in."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def acquire_run_lock(run_dir: Path) -> RunLock:
    """Lock `run_dir` for this process or raise `OutputError` naming the run that holds it."""
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(
            f"{run_dir}: cannot create the run lock {path}: {exc.strerror or exc}"
        ) from exc
    for attempt in range(_ACQUIRE_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt + 1 < _ACQUIRE_TRIES:
                time.sleep(_ACQUIRE_PAUSE_S)
        except OSError as exc:
            os.close(fd)
            raise OutputError(
                f"{run_dir}: cannot lock {path}: {exc.strerror or exc}"
            ) from exc
    else:
        pid = _read_pid(fd)
        os.close(fd)
        holder = f"pid {pid}" if pid else "pid unknown"
        raise OutputError(
            f"{run_dir} is in use by another run ({holder}); wait for it to finish or stop it, or use another --out"
        )
    with contextlib.suppress(OSError):  # the pid is informative only
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return RunLock(fd, path)


def holder_pid(run_dir: Path) -> int | None:
    """The pid of a live run holding `run_dir` (0 when it cannot be read), or None when no run holds it.

    Probes with a shared, non-blocking lock that is dropped at once; it never waits and never blocks a run.
    """
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None
