"""pipeline: an async batch runner for Google's Gemini models; see README.md and ../shared/CONTRACT.md."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Read on first use: importlib.metadata costs 20 ms of every command's start-up.
    if name != "__version__":
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pipeline")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0"
