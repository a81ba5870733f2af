"""pipeline: an async batch runner for Google's Gemini models; see README.md and ../shared/CONTRACT.md."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pipeline")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
