"""Sends an HttpRequest, returns an HttpResponse: whole-body requests on a lean HTTP/1.1 pool (`_http11.py`),
streamed uploads and downloads on aiohttp; every network error mapped to an `AttemptError` here."""

from __future__ import annotations

from ._aiohttp import Downloader, HttpTransport, Transport

__all__ = (
    "Downloader",
    "HttpTransport",
    "Transport",
)
