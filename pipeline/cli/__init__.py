"""The click commands and the live display; the exit-code map and the library calls are `pipeline.api`'s."""

from __future__ import annotations

from ._commands import main

__all__ = ("main",)
