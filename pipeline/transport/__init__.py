"""The only aiohttp client user: sends an HttpRequest, returns an HttpResponse, maps aiohttp's errors."""

from __future__ import annotations

from ._aiohttp import AiohttpTransport, Downloader, Transport

__all__ = (
    "AiohttpTransport",
    "Downloader",
    "Transport",
)
