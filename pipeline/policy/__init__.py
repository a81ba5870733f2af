"""Policies decide, only the run acts: admission limits, the retry policy and the budget."""

from __future__ import annotations

from ._budget import Budget, Hold
from ._limits import Limits, quota_day
from ._retry import RetryPolicy
from ._tiers import MAX_FLEX_SHEDS, AutoTier, FlexBackoff

__all__ = (
    "MAX_FLEX_SHEDS",
    "AutoTier",
    "Budget",
    "FlexBackoff",
    "Hold",
    "Limits",
    "RetryPolicy",
    "quota_day",
)
