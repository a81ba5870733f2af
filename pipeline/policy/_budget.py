"""A hard spending cap: every request reserves its worst case before it is sent, and settles when it returns.

So no request is ever sent that could take spend past `budget_usd`, even with 256 requests in flight. When a
reservation does not fit, the caller waits for in-flight requests to settle (they usually cost far less than
their worst case, which frees room); only when nothing is in flight and it still does not fit is the budget
exhausted, and the run stops, resumable with a raised budget.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from pipeline.errors import BudgetExhausted

from ._lease import PermitSource

_AHEAD = 8  # a shared budget's allowance covers this many worst cases beyond what is reserved


def default_holder() -> str:
    """This process's name towards a shared quota: its `Limits` and its `Budget` hold one lease together."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Budget:
    """Reserve-then-settle accounting against an optional limit.

    :param limit_usd: the cap, or None for no cap (then only spend is tracked).
    :param spent_usd: what earlier sessions of this run already spent (from the journal).
    """

    def __init__(
        self,
        limit_usd: float | None,
        spent_usd: float = 0.0,
        *,
        permits: PermitSource | None = None,
        holder: str = "",
    ) -> None:
        self.limit = limit_usd
        self.spent = spent_usd
        # A budget shared with other workers (pipeline.policy._quota): reservations come out of an allowance
        # leased from `permits`, which also books what was spent; the limit is the source's.
        self._permits = permits
        self._holder = holder or default_holder()
        self._allowance = 0.0
        self._unbooked = 0.0
        self.reserved = 0.0
        self._in_flight = 0
        self._changed = anyio.Event()

    @property
    def left(self) -> float | None:
        return None if self.limit is None else max(0.0, self.limit - self.spent)

    async def reserve(self, worst_case_usd: float) -> float:
        """Wait until `worst_case_usd` fits under the cap and hold it; returns the amount held.

        Raises `BudgetExhausted` when it cannot fit even with nothing else in flight.
        """
        if self.limit is None:
            self._in_flight += 1
            return 0.0
        if self._permits is not None:
            return await self._reserve_shared(worst_case_usd)
        while self.spent + self.reserved + worst_case_usd > self.limit:
            if self._in_flight == 0:
                raise BudgetExhausted(
                    f"budget_usd = {self.limit:.4f} would be passed by the next request (worst case "
                    f"${worst_case_usd:.4f}, ${self.spent:.4f} spent); raise [limits] budget_usd and run the job "
                    "again to resume"
                )
            self._changed = anyio.Event() if self._changed.is_set() else self._changed
            await self._changed.wait()
        self.reserved += worst_case_usd
        self._in_flight += 1
        return worst_case_usd

    @asynccontextmanager
    async def hold(self, worst_case_usd: float) -> AsyncIterator[Hold]:
        """Reserve `worst_case_usd` for one request and settle it on exit, whatever happens: the one place a
        reservation ends. Call `hold.bill(usd)` as soon as the request's cost is known (before any await), so
        spend plus holds never dips below the truth."""
        hold = Hold(await self.reserve(worst_case_usd))
        try:
            yield hold
        finally:
            self.settle(hold.held_usd, hold.billed_usd)

    async def _reserve_shared(self, worst_case_usd: float) -> float:
        assert self._permits is not None
        while self.reserved + worst_case_usd > self._allowance:
            # Ask for room for a few more requests than this one, so most reservations need no round trip.
            want = self.reserved + worst_case_usd * _AHEAD
            grant = await self._permits.budget(self._holder, self._unbooked, want)
            self._unbooked = 0.0
            self._allowance = grant.usd
            if self.reserved + worst_case_usd <= self._allowance:
                break
            if grant.exhausted and self._in_flight == 0:
                raise BudgetExhausted(
                    f"budget_usd = {self.limit:.4f} would be passed by the next request across the cluster "
                    f"(worst case ${worst_case_usd:.4f}); raise [limits] budget_usd and run the job again to "
                    "resume"
                )
            # Wait for a request of ours to settle, or for other workers to give some back.
            self._changed = anyio.Event() if self._changed.is_set() else self._changed
            with anyio.move_on_after(0.25):
                await self._changed.wait()
        self.reserved += worst_case_usd
        self._in_flight += 1
        return worst_case_usd

    def settle(self, held_usd: float, actual_usd: float | None) -> None:
        """Release a reservation and book what the request actually cost (None: nothing billed)."""
        self.reserved = max(0.0, self.reserved - held_usd)
        self.spent += actual_usd or 0.0
        if self._permits is not None:
            self._allowance = max(0.0, self._allowance - (actual_usd or 0.0))
            self._unbooked += actual_usd or 0.0
        self._in_flight -= 1
        self._changed.set()


class Hold:
    """One request's reservation: what is held, and what it was billed once that is known."""

    __slots__ = ("billed_usd", "held_usd")

    def __init__(self, held_usd: float) -> None:
        self.held_usd = held_usd
        self.billed_usd: float | None = None

    def bill(self, usd: float | None) -> None:
        self.billed_usd = usd
