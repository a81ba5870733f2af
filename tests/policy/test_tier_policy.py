"""The tier policies with a fake clock: Flex backs off as a tier, and `auto` meets its deadline as cheaply as
the measured throughput allows."""

from __future__ import annotations

import heapq
import random

import pytest

from pipeline.policy import AutoTier, FlexBackoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_flex_pauses_once_per_episode_and_doubles() -> None:
    clock = Clock()
    flex = FlexBackoff(base_s=1.0, max_s=8.0, clock=clock, rng=random.Random(0))
    first = flex.on_refused()
    assert 1.0 <= first <= 1.1
    # Refused together: the same pause, no new episode.
    clock.now += 0.5
    assert 0.5 <= flex.on_refused() <= 0.6
    assert flex.wait_s() == pytest.approx(0.5)
    clock.now += 0.5
    assert flex.wait_s() == 0.0
    assert 2.0 <= flex.on_refused() <= 2.1  # a new episode: twice as long
    clock.now += 2.0
    assert 4.0 <= flex.on_refused() <= 4.1
    clock.now += 4.0
    assert 8.0 <= flex.on_refused() <= 8.1
    clock.now += 8.0
    assert 8.0 <= flex.on_refused() <= 8.1  # capped
    flex.on_served()
    clock.now += 8.0
    assert 1.0 <= flex.on_refused() <= 1.1  # a reply ends the run of episodes
    assert flex.refusals == 7


def test_a_server_hint_is_a_minimum() -> None:
    clock = Clock()
    flex = FlexBackoff(base_s=1.0, clock=clock, rng=random.Random(0))
    assert flex.on_refused(retry_after=5.0) >= 5.0
    assert flex.wait_s() == pytest.approx(5.0)


def test_auto_starts_at_flex_and_measures() -> None:
    clock = Clock()
    auto = AutoTier(clock.now + 100.0, clock=clock, min_samples=20)
    assert auto.margin_s == pytest.approx(10.0)
    assert auto.choose(pending=None) == "flex"
    assert auto.choose(pending=1000) == "flex"  # nothing measured yet
    clock.now += 10.0
    for _ in range(19):
        auto.row_finished()
    assert auto.choose(pending=10_000) == "flex"  # 19 rows say little yet
    auto.row_finished()  # 20 rows in 10 s: 2 rows/s
    assert auto.rows_per_s() == pytest.approx(2.0)
    assert (
        auto.choose(pending=100) == "flex"
    )  # 50 s needed, 80 s left before the margin
    assert auto.choose(pending=200) == "standard"  # 100 s needed
    assert auto.chosen == {"flex": 4, "standard": 1}


def test_auto_never_sends_a_flex_request_that_would_land_after_the_deadline() -> None:
    clock = Clock()
    auto = AutoTier(clock.now + 60.0, clock=clock, margin_s=5.0)
    auto.flex_replied(30.0)
    assert auto.choose(pending=None) == "flex"
    clock.now += (
        26.0  # 34 s left, 29 before the margin: a 30 s Flex reply would be late
    )
    assert auto.choose(pending=None) == "standard"
    clock.now += 30.0
    assert auto.choose(pending=1) == "standard"  # past deadline - margin


def simulate(
    rows: int,
    workers: int,
    flex_s: float,
    standard_s: float,
    budget_s: float,
) -> tuple[float, dict[str, int]]:
    """A run with `workers` slots, each row taking `flex_s` or `standard_s` by the tier `auto` picks."""
    clock = Clock()
    start = clock.now
    auto = AutoTier(start + budget_s, clock=clock)
    events: list[tuple[float, str]] = []
    sent = {"flex": 0, "standard": 0}
    left = rows
    done = 0

    def send() -> None:
        nonlocal left
        tier = auto.choose(pending=rows - done)
        sent[tier] += 1
        left -= 1
        heapq.heappush(
            events, (clock.now + (flex_s if tier == "flex" else standard_s), tier)
        )

    for _ in range(min(workers, rows)):
        send()
    while events:
        clock.now, tier = heapq.heappop(events)
        if tier == "flex":
            auto.flex_replied(flex_s)
        auto.row_finished()
        done += 1
        if left:
            send()
    return clock.now - start, sent


@pytest.mark.parametrize("budget_s", [40.0, 60.0, 100.0])
def test_auto_meets_its_deadline_with_as_much_flex_as_it_can(budget_s: float) -> None:
    # 2,000 rows, 32 slots: all Flex takes 62.5 s, all Standard 6.25 s.
    took, sent = simulate(2000, 32, flex_s=1.0, standard_s=0.1, budget_s=budget_s)
    assert took <= budget_s
    assert sent["flex"] > 0 and sent["standard"] > 0 or took <= budget_s * 0.9
    # Cheaper than all Standard: at least a third of the rows went at Flex.
    assert sent["flex"] >= 2000 / 3, sent


def test_auto_with_time_enough_sends_everything_at_flex() -> None:
    took, sent = simulate(500, 32, flex_s=1.0, standard_s=0.1, budget_s=100.0)
    assert sent == {"flex": 500, "standard": 0}
    assert took < 100.0


def test_auto_with_no_time_sends_everything_at_standard_after_the_first_replies() -> (
    None
):
    took, sent = simulate(2000, 32, flex_s=5.0, standard_s=0.1, budget_s=20.0)
    assert took <= 20.0
    assert sent["standard"] > sent["flex"]
