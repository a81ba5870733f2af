"""The click commands, the live display and the one map of errors to exit codes."""

from __future__ import annotations

from ._commands import main

__all__ = ("main",)
