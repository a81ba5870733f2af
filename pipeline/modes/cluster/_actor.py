"""The cluster's one quota: a named Ray actor around `pipeline.policy.QuotaLedger`, and the worker's client.

The actor also keeps each shard's latest progress counters, which the driver sums for its display.
"""

from __future__ import annotations

import time
from typing import Any

import ray

from pipeline.policy import (
    BudgetGrant,
    LeaseUsage,
    QuotaConfig,
    QuotaLease,
    QuotaLedger,
)


@ray.remote(num_cpus=0)
class QuotaActor:
    """Serves leases (one call per worker per lease, about a second) and collects progress."""

    def __init__(self, config: QuotaConfig) -> None:
        self.ledger = QuotaLedger(config)
        self.progress: dict[int, dict[str, Any]] = {}

    def lease(self, holder: str, used: LeaseUsage) -> QuotaLease:
        return self.ledger.lease(holder, used)

    def rate_limited(
        self, holder: str, generation: int, retry_after: float | None
    ) -> None:
        self.ledger.on_rate_limited(holder, generation, retry_after)

    def release(self, holder: str, used: LeaseUsage) -> None:
        self.ledger.release(holder, used)

    def budget(self, holder: str, spent_usd: float, want_usd: float) -> BudgetGrant:
        return self.ledger.budget(holder, spent_usd, want_usd)

    def report(self, shard: int, counters: dict[str, Any]) -> None:
        counters["at"] = time.time()
        self.progress[shard] = counters

    def state(self) -> dict[str, Any]:
        return {"ledger": self.ledger.snapshot(), "progress": dict(self.progress)}


class RayPermits:
    """A `pipeline.policy.PermitSource` served by a `QuotaActor` (awaiting Ray calls on the worker's loop)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    async def lease(self, holder: str, used: LeaseUsage) -> QuotaLease:
        lease: QuotaLease = await self.actor.lease.remote(holder, used)
        return lease

    async def rate_limited(
        self, holder: str, generation: int, retry_after: float | None
    ) -> None:
        await self.actor.rate_limited.remote(holder, generation, retry_after)

    async def release(self, holder: str, used: LeaseUsage) -> None:
        await self.actor.release.remote(holder, used)

    async def budget(
        self, holder: str, spent_usd: float, want_usd: float
    ) -> BudgetGrant:
        grant: BudgetGrant = await self.actor.budget.remote(holder, spent_usd, want_usd)
        return grant
