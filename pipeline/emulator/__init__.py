"""A faithful local emulator of the Gemini REST API and its OpenAI-compatible front doors.

It imports nothing else from `pipeline`: it is an independent second implementation of the wire
format, so it catches the client's mistakes instead of sharing them. See docs/emulator.md.
"""

from __future__ import annotations

from .app import create_app
from .config import EmulatorConfig
from .server import EmulatorServer, EmulatorThread, serve_forever

__all__ = (
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorThread",
    "create_app",
    "serve_forever",
)
