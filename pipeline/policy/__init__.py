"""Policies decide, only the run acts: admission limits, the retry policy and the budget."""

from __future__ import annotations

from ._budget import Budget
from ._limits import Limits
from ._retry import RetryPolicy

__all__ = (
    "Budget",
    "Limits",
    "RetryPolicy",
)
