"""Emulators on port 0, stopped after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from emuhelp import KEY, Emu, MakeEmu

from pipeline.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture
async def make_emu() -> AsyncIterator[MakeEmu]:
    started: list[Emu] = []

    async def make(**config: Any) -> Emu:
        config.setdefault("api_key", KEY)
        server = EmulatorServer(EmulatorConfig(port=0, **config))
        await server.start()
        emu = Emu(server, aiohttp.ClientSession())
        started.append(emu)
        return emu

    yield make
    for emu in started:
        await emu.session.close()
        await emu.server.stop()


@pytest.fixture
async def emu(make_emu: MakeEmu) -> Emu:
    return await make_emu()
