from __future__ import annotations

import anyio
import pytest

from pipeline.errors import BudgetExhausted
from pipeline.policy import Budget


async def test_no_limit_never_blocks() -> None:
    budget = Budget(None)
    held = await budget.reserve(1_000.0)
    budget.settle(held, 3.0)
    assert budget.spent == 3.0


async def test_reservation_that_cannot_fit_with_nothing_in_flight_exhausts() -> None:
    budget = Budget(1.0, spent_usd=0.8)
    with pytest.raises(BudgetExhausted, match="raise"):
        await budget.reserve(0.5)


async def test_waits_for_in_flight_to_settle_then_fits() -> None:
    budget = Budget(1.0)
    first = await budget.reserve(0.6)
    results: list[float] = []

    async def second() -> None:
        results.append(await budget.reserve(0.6))

    async with anyio.create_task_group() as tg:
        tg.start_soon(second)
        await anyio.sleep(0.01)
        assert results == []  # 0.6 + 0.6 > 1.0: must wait
        budget.settle(first, 0.1)  # the first request cost far less than its worst case
    assert results == [0.6]
    assert budget.spent == pytest.approx(0.1)


async def test_spend_plus_reservations_never_pass_the_limit() -> None:
    budget = Budget(2.0)
    peak = 0.0

    async def request(cost: float) -> None:
        nonlocal peak
        try:
            held = await budget.reserve(0.5)
        except BudgetExhausted:
            return
        peak = max(peak, budget.spent + budget.reserved)
        await anyio.sleep(0.001)
        budget.settle(held, cost)

    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(request, 0.3)
    assert peak <= 2.0 + 1e-9
    assert budget.spent <= 2.0
