"""Policies decide, only the run acts: admission limits (alone, or leased from a shared quota), the retry
policy and the budget."""

from __future__ import annotations

from ._budget import Budget, Hold
from ._lease import BudgetGrant, LeaseUsage, PermitSource, QuotaLease
from ._limits import LeasedRate, Limits, quota_day
from ._quota import LocalPermits, QuotaConfig, QuotaLedger
from ._retry import RetryPolicy
from ._tiers import MAX_FLEX_SHEDS, AutoTier, FlexBackoff

__all__ = (
    "MAX_FLEX_SHEDS",
    "AutoTier",
    "Budget",
    "BudgetGrant",
    "FlexBackoff",
    "Hold",
    "LeaseUsage",
    "LeasedRate",
    "Limits",
    "LocalPermits",
    "PermitSource",
    "QuotaConfig",
    "QuotaLease",
    "QuotaLedger",
    "RetryPolicy",
    "quota_day",
)
