"""Running the emulator: in the current loop, in a background thread, or in the foreground until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .app import STATE, create_app
from .config import EmulatorConfig

__all__ = ("EmulatorServer", "EmulatorThread", "serve_forever")


class EmulatorServer:
    """An emulator listening on config.host:config.port (port 0: a free port) while the block runs.

    async with EmulatorServer(EmulatorConfig(port=0)) as emu:
        ... requests to emu.base_url ...
        emu.ledger()
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.app = create_app(self.config)
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=self.config.shutdown_timeout_s,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()  # writes the ledger file when configured

    def ledger(self) -> dict[str, Any]:
        """The same document as GET /_emulator/ledger."""
        return self.app[STATE].ledger.to_json()


class EmulatorThread:
    """An EmulatorServer on its own event loop in a daemon thread, for sync code and SDK tests.

    with EmulatorThread(EmulatorConfig(port=0)) as emu:
        client = genai.Client(api_key="k", http_options=HttpOptions(base_url=emu.base_url))
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.server = EmulatorServer(config)
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: Exception | None = None

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="emulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        self.base_url = self.server.base_url
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await self.server.start()
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread by __enter__
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await self.server.stop()

        asyncio.run(main())

    def ledger(self) -> dict[str, Any]:
        return self.server.ledger()


def serve_forever(config: EmulatorConfig, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM; `on_ready(base_url)` once listening; the ledger file is written on exit."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        async with EmulatorServer(config) as server:
            on_ready(server.base_url)
            await stop.wait()

    asyncio.run(main())
