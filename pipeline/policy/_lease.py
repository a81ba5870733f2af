"""The lease protocol between a worker's `Limits` and a shared quota (see `_quota` for the whole story)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LeaseUsage:
    """What a holder did under its previous lease: requests sent, and replies that were not 429."""

    requests: int = 0
    accepted: int = 0


@dataclass(frozen=True, slots=True)
class QuotaLease:
    """A share of the quota for `duration_s` seconds, starting after `pause_s`.

    `requests_per_s` None: unpaced. `tokens_per_minute` None: no token limit. `requests` None: no daily limit,
    else the request permits of this lease. `exhausted` names the limit that will grant nothing more ("daily").
    """

    requests_per_s: float | None
    tokens_per_minute: float | None
    requests: int | None
    duration_s: float
    pause_s: float
    generation: int
    exhausted: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetGrant:
    """The spending allowance a holder may now hold; `exhausted`: nothing more can be had from anyone."""

    usd: float
    exhausted: bool = False


class PermitSource(Protocol):
    """Where a worker's `Limits` takes its leases from (see the module docstring)."""

    async def lease(self, holder: str, used: LeaseUsage) -> QuotaLease:
        """Settle the holder's previous lease with `used` and grant the next one."""
        ...

    async def rate_limited(
        self, holder: str, generation: int, retry_after: float | None
    ) -> None:
        """A 429 under a lease of `generation`, with the server's retry hint if it gave one."""
        ...

    async def release(self, holder: str, used: LeaseUsage) -> None:
        """The holder is done: settle its lease and free its share at once."""
        ...

    async def budget(
        self, holder: str, spent_usd: float, want_usd: float
    ) -> BudgetGrant:
        """Book `spent_usd` (spent since the holder's last call) and set its allowance to `want_usd` if
        the budget allows, else to what is left of it."""
        ...
