"""The shared quota: the ledger's leases (fair shares that never add up past the limit, expiry of dead holders,
one decrease per 429 event) and `Limits` pacing on leases from an in-process source."""

from __future__ import annotations

import time

import anyio
import pytest

from pipeline.errors import DailyLimitReached
from pipeline.policy import (
    LeaseUsage,
    Limits,
    LocalPermits,
    QuotaConfig,
    QuotaLedger,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_live_holders_share_the_rate_and_never_exceed_it() -> None:
    clock = Clock()
    ledger = QuotaLedger(QuotaConfig(requests_per_minute=600), clock=clock)
    ceiling = 10 * 0.98
    a = ledger.lease("a", LeaseUsage())
    assert a.requests_per_s == pytest.approx(ceiling) and a.pause_s == 0
    # b arrives while a holds the whole rate: it starts when a's lease ends, with half
    b = ledger.lease("b", LeaseUsage())
    assert b.requests_per_s == pytest.approx(ceiling / 2) and b.pause_s > 0.9
    clock.now += 1.0
    a = ledger.lease("a", LeaseUsage(requests=9, accepted=9))
    assert a.requests_per_s == pytest.approx(ceiling / 2)
    assert sum(h.rate for h in ledger.holders.values()) <= ceiling + 1e-9


def test_a_dead_holder_expires_and_its_permits_count_as_used() -> None:
    clock = Clock()
    ledger = QuotaLedger(
        QuotaConfig(requests_per_minute=600, requests_per_day=100), clock=clock
    )
    dead = ledger.lease("dead", LeaseUsage())
    assert dead.requests is not None and dead.requests > 0
    clock.now += 5.0  # past its duration and grace
    alive = ledger.lease("alive", LeaseUsage())
    assert alive.requests_per_s == pytest.approx(9.8) and alive.pause_s == 0
    assert ledger.sent_today == dead.requests and "dead" not in ledger.holders


def test_a_429_lowers_the_pace_once_for_everyone() -> None:
    clock = Clock()
    ledger = QuotaLedger(QuotaConfig(requests_per_minute=600), clock=clock)
    leases = {name: ledger.lease(name, LeaseUsage()) for name in "abc"}
    for name in "abc":  # all three hit the same wall under the same generation
        ledger.on_rate_limited(name, leases[name].generation, 2.0)
    assert ledger.rate == pytest.approx(9.8 * 0.8)
    assert ledger.generation == 1 and ledger.rate_limited == 3
    again = ledger.lease("a", LeaseUsage(requests=3))
    assert again.generation == 1 and again.pause_s >= 2.0  # the pool-wide pause


def test_the_daily_limit_is_shared_and_ends_the_run() -> None:
    clock = Clock()
    ledger = QuotaLedger(QuotaConfig(requests_per_day=5), clock=clock)
    first = ledger.lease("a", LeaseUsage())
    assert first.requests == 5
    used_up = ledger.lease("a", LeaseUsage(requests=5, accepted=5))
    assert used_up.exhausted == "daily" and used_up.requests == 0


async def test_two_workers_on_one_source_pace_to_one_limit() -> None:
    source = LocalPermits(QuotaConfig(requests_per_minute=1200, lease_s=0.5))
    sent: list[float] = []

    async def worker(name: str) -> None:
        limits = Limits(
            requests_per_minute=1200,
            tokens_per_minute=None,
            requests_per_day=None,
            permits=source,
            holder=name,
        )
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            await limits.admit(10)
            sent.append(time.monotonic())
            limits.rate.on_accepted()

    async with anyio.create_task_group() as group:
        group.start_soon(worker, "a")
        group.start_soon(worker, "b")
    rate = 1200 / 60 * 0.98
    span = max(sent) - min(sent)
    # never more than the limit in any 1 s window (plus one slot per worker at a start)
    for start in sent:
        assert sum(start <= t < start + 1.0 for t in sent) <= rate * 1.0 + 3
    assert len(sent) >= rate * span * 0.85  # and the two together get about all of it


async def test_leased_limits_stop_at_the_shared_daily_limit() -> None:
    source = LocalPermits(QuotaConfig(requests_per_day=3))
    limits = Limits(
        requests_per_minute=None,
        tokens_per_minute=None,
        requests_per_day=3,
        permits=source,
    )
    for _ in range(3):
        await limits.admit(0)
    with pytest.raises(DailyLimitReached):
        await limits.admit(0)


def test_the_budget_is_shared_spend_plus_allowances_never_pass_it() -> None:
    clock = Clock()
    ledger = QuotaLedger(QuotaConfig(budget_usd=1.0, spent_usd=0.2), clock=clock)
    a = ledger.budget("a", 0.0, 0.5)
    b = ledger.budget("b", 0.0, 0.5)
    assert a.usd == pytest.approx(0.5) and b.usd == pytest.approx(0.3)
    assert not b.exhausted  # a may give some back
    a = ledger.budget(
        "a", 0.4, 0.5
    )  # a spent 0.4 of its allowance and wants room again
    assert a.usd == pytest.approx(0.1)
    assert ledger.spent_usd + sum(h.usd for h in ledger.holders.values()) <= 1.0 + 1e-9
    clock.now += 5.0  # both die: their allowances count as spent
    c = ledger.budget("c", 0.0, 0.2)
    assert c.usd == 0.0 and c.exhausted


async def test_two_workers_share_one_budget_and_stop_at_it() -> None:
    from pipeline.errors import BudgetExhausted
    from pipeline.policy import Budget

    source = LocalPermits(QuotaConfig(budget_usd=1.0))
    spent: list[float] = []
    stopped: list[str] = []

    async def worker(name: str) -> None:
        budget = Budget(1.0, permits=source, holder=name)
        try:
            while True:
                held = await budget.reserve(0.05)  # worst case 0.05, actual 0.03
                await anyio.sleep(0.001)
                budget.settle(held, 0.03)
                spent.append(0.03)
        except BudgetExhausted:
            stopped.append(name)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for name in "ab":
                group.start_soon(worker, name)
    assert sorted(stopped) == ["a", "b"]
    assert sum(spent) <= 1.0 + 1e-9
    assert sum(spent) >= 0.8  # and most of it was used
