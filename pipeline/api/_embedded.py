"""`pipeline run --emulator` and `pipeline.run(..., emulator=True)`: the bundled emulator, started one way for both.

It listens on a free loopback port in a thread of its own (its own event loop, so a run's CPU work does not slow
its replies down); the run is pointed at it through `RunOptions.base_url`, which also fills in the key variables
the spec names, so no API key is needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio

__all__ = ("embedded_emulator", "emulator_notice", "running_emulator")


@contextmanager
def embedded_emulator() -> Iterator[str]:
    """Start the emulator on a free loopback port; yields its base URL; stops it at the end of the block."""
    from pipeline.emulator import (  # on first use: only --emulator pays for importing it
        EmulatorConfig,
        EmulatorThread,
    )

    with EmulatorThread(EmulatorConfig(port=0)) as server:
        yield server.base_url


@asynccontextmanager
async def running_emulator() -> AsyncIterator[str]:
    """`embedded_emulator()` for async code: starting and stopping it (a thread join) do not block the loop."""
    manager = embedded_emulator()
    base_url = await anyio.to_thread.run_sync(manager.__enter__)
    try:
        yield base_url
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(manager.__exit__, None, None, None)


def emulator_notice(base_url: str) -> str:
    """The first line a run on the emulator shows, so that nobody mistakes its replies for the real API's."""
    return f"emulator: running the job against the local emulator at {base_url} (no API key needed)"
