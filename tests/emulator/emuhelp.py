"""Helpers of the emulator tests: request bodies and a small HTTP client around an EmulatorServer."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from pipeline.emulator import EmulatorServer

KEY = "test-key"
PRO = "gemini-3.1-pro-preview"
FLASH = "gemini-3-flash-preview"
IMAGE = "gemini-3-pro-image"
IMAGE_PREVIEW = "gemini-3-pro-image-preview"  # shut down at Google 2026-06-25, resold by aggregators


def text_body(text: str, **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if config:
        body["generationConfig"] = config
    return body


@dataclass
class Emu:
    server: EmulatorServer
    session: aiohttp.ClientSession

    @property
    def base_url(self) -> str:
        return self.server.base_url

    async def post(self, path: str, body: Any = None, *, key: str | None = KEY, raw: bytes | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:  # fmt: skip
        hdrs = dict(headers or {})
        if key is not None and "Authorization" not in hdrs:
            hdrs["x-goog-api-key"] = key
        kwargs: dict[str, Any] = (
            {"data": io.BytesIO(raw)} if raw is not None else {"json": body}
        )
        async with self.session.post(
            self.base_url + path, headers=hdrs, **kwargs
        ) as resp:
            text = await resp.text()
            try:
                import json

                payload: Any = json.loads(text)
            except ValueError:
                payload = text
            return resp.status, payload, resp.headers

    async def generate(
        self, body: Any, model: str = FLASH, **kw: Any
    ) -> tuple[int, Any]:
        status, payload, _ = await self.post(
            f"/v1beta/models/{model}:generateContent", body, **kw
        )
        return status, payload

    async def openai(
        self, path: str, body: Any, *, prefix: str = "/v1", key: str | None = KEY
    ) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.post(f"{prefix}{path}", body, key=None, headers=headers)

    def ledger(self) -> dict[str, Any]:
        return self.server.ledger()


MakeEmu = Callable[..., Awaitable[Emu]]
