"""Sends an HttpRequest, returns an HttpResponse: whole-body requests on a lean HTTP/1.1 pool (`_http11.py`),
streamed uploads and downloads on aiohttp (`_aiohttp.py`, imported on first use); every network error is mapped to an
`AttemptError` inside this package."""

from __future__ import annotations

from ._transport import Downloader, HttpTransport, MockTransport, Transport

__all__ = (
    "Downloader",
    "HttpTransport",
    "MockTransport",
    "Transport",
)
