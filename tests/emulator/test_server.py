"""Running the emulator: EmulatorThread for sync code, serve_forever until a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from emuhelp import FLASH, KEY, text_body

from pipeline.emulator import EmulatorConfig, EmulatorThread


def _post(url: str, body: object) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"x-goog-api-key": KEY, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def test_thread_serves_and_stops_cleanly() -> None:
    with EmulatorThread(EmulatorConfig(port=0, api_key=KEY)) as emu:
        reply = _post(
            f"{emu.base_url}/v1beta/models/{FLASH}:generateContent",
            text_body("from a thread"),
        )
        assert "candidates" in reply and emu.ledger()["requests"] == 1
        base = emu.base_url
    try:
        urllib.request.urlopen(base + "/_emulator/ledger", timeout=2)
        raise AssertionError("the server still answers after exit")
    except OSError:
        pass


def test_thread_stops_promptly_with_a_hanging_request() -> None:
    import threading
    import time

    with EmulatorThread(
        EmulatorConfig(port=0, api_key=KEY, shutdown_timeout_s=0.2)
    ) as emu:
        url = f"{emu.base_url}/v1beta/models/{FLASH}:generateContent"
        worker = threading.Thread(target=lambda: _swallow(url), daemon=True)
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 5


def _swallow(url: str) -> None:
    try:
        _post(url, text_body("[[emu:hang=30]]"))
    except OSError:
        pass


def test_port_in_use_raises_on_enter() -> None:
    with EmulatorThread(EmulatorConfig(port=0)) as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        try:
            with EmulatorThread(EmulatorConfig(port=port)):
                raise AssertionError("bound the same port twice")
        except OSError:
            pass


def test_serve_forever_writes_the_ledger_on_sigterm(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.json"
    code = (
        "import sys\n"
        "from pipeline.emulator import EmulatorConfig, serve_forever\n"
        f"serve_forever(EmulatorConfig(port=0, ledger_path={str(ledger)!r}), lambda url: print(url, flush=True))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        _post(f"{base}/v1beta/models/{FLASH}:generateContent", text_body("x"))
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert json.loads(ledger.read_text())["requests"] == 1


def test_config_refuses_impossible_values() -> None:
    import pytest

    for bad in (
        {"fault_rate": 1.5},
        {"fault_mix": ("boom",)},
        {"window_s": 0},
        {"rpm": 0},
        {"latency_ms": 10, "latency_p99_ms": 5},
    ):
        with pytest.raises(ValueError):
            EmulatorConfig(**bad)  # type: ignore[arg-type]


async def test_a_client_that_gives_up_during_a_hang_is_recorded() -> None:
    import asyncio

    import aiohttp

    from pipeline.emulator import EmulatorServer

    async with (
        EmulatorServer(EmulatorConfig(port=0, api_key=KEY)) as server,
        aiohttp.ClientSession() as session,
    ):
        url = f"{server.base_url}/v1beta/models/{FLASH}:generateContent"
        try:
            async with session.post(
                url,
                json=text_body("[[emu:hang=5]]"),
                headers={"x-goog-api-key": KEY},
                timeout=aiohttp.ClientTimeout(total=0.1),
            ):
                pass
        except TimeoutError:
            pass
        for _ in range(50):
            if server.ledger()["in_flight"] == 0:
                break
            await asyncio.sleep(0.02)
        ledger = server.ledger()
    assert ledger["in_flight"] == 0
    assert ledger["requests_by_route"][
        "POST /v1beta/models/{model}:generateContent"
    ] == {"client_closed": 1}
