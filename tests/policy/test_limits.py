from __future__ import annotations

import pytest

from pipeline.errors import DailyLimitReached
from pipeline.policy._limits import RATE_SAFETY, AdaptiveRate, DailyCounter, Limits


class FakeClock:
    """A clock that only moves when somebody sleeps, so pacing is tested exactly and instantly."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def max_in_window(times: list[float], window: float) -> int:
    best = 0
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_pacing_never_exceeds_the_limit_in_any_rolling_window() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(600 / 60.0, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(3_000):
        await rate.acquire()
        sent.append(clock.now)
    assert max_in_window(sent, 60.0) <= 600
    achieved = (len(sent) - 1) / (sent[-1] - sent[0]) * 60.0
    assert achieved >= 600 * RATE_SAFETY * 0.999
    # no start-of-minute burst: the first 10 requests are spread over a second
    assert sent[9] - sent[0] >= 0.9 * RATE_SAFETY


async def test_a_429_pauses_the_whole_pool_once_and_lowers_the_rate() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(10.0, clock=clock, sleep=clock.sleep)
    before = rate.rate
    rate.on_rate_limited(5.0)
    rate.on_rate_limited(5.0)  # same burst: no second decrease
    assert rate.rate == pytest.approx(before * 0.8)
    start = clock.now
    await rate.acquire()
    assert clock.now - start >= 5.0


async def test_unlimited_rate_learns_the_server_rate_from_the_first_429() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    assert rate.rate is None
    for _ in range(100):  # the server accepted 100 requests within a second...
        rate.on_accepted()
        clock.now += 0.01
    rate.on_rate_limited(
        9.0
    )  # ...then says its window opens again in 9 s: about 10 requests per second
    assert rate.rate is not None
    assert 8.0 <= rate.rate <= 10.5


async def test_rate_recovers_slowly_after_quiet_periods_up_to_the_ceiling() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(10.0, clock=clock, sleep=clock.sleep, recover_after_s=5.0)
    rate.on_rate_limited(1.0)
    low = rate.rate
    assert low is not None
    for _ in range(200):
        clock.now += 1.0
        rate.on_accepted()
    assert rate.rate == pytest.approx(10.0 * RATE_SAFETY)
    assert rate.rate > low


def test_daily_counter_stops_at_the_limit() -> None:
    counter = DailyCounter(3, sent_today=1)
    counter.take()
    counter.take()
    with pytest.raises(DailyLimitReached, match="requests_per_day"):
        counter.take()


async def test_limits_admit_counts_requests_and_refuses_past_the_day() -> None:
    clock = FakeClock()
    limits = Limits(
        requests_per_minute=None,
        tokens_per_minute=None,
        requests_per_day=2,
        clock=clock,
        sleep=clock.sleep,
    )
    await limits.admit(10)
    await limits.admit(10)
    with pytest.raises(DailyLimitReached):
        await limits.admit(10)


async def test_token_meter_caps_weights_above_its_bucket() -> None:
    limits = Limits(
        requests_per_minute=None, tokens_per_minute=6_000_000, requests_per_day=None
    )
    assert limits.tokens is not None
    await limits.admit(50_000)  # below capacity (300k): immediate
    await limits.correct_tokens(10, 20)


async def test_a_stray_429_before_enough_replies_only_pauses() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        rate.on_accepted()
    rate.on_rate_limited(0.5)
    assert rate.rate is None  # three replies say nothing about the server's rate
    start = clock.now
    await rate.acquire()
    assert clock.now - start >= 0.5  # but the pool did pause


async def test_hintless_429s_lower_the_rate_once_per_event_and_never_pause_the_pool() -> (
    None
):
    clock = FakeClock()
    rate = AdaptiveRate(10.0, clock=clock, sleep=clock.sleep)
    start_rate = rate.rate
    assert start_rate is not None
    for _ in range(6):  # the server refuses everything until its window slides
        rate.on_rate_limited(None)
        clock.now += 2.0
    assert rate.rate == pytest.approx(start_rate * 0.8)  # one event, one decrease
    assert rate.state().paused_for_s == 0.0  # each row backs off on its own


async def test_the_rate_never_falls_below_a_quarter_of_the_limit() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(100):  # a 429 on every row's first try, whatever the rate
        rate.on_accepted()
        clock.now += 2.0
        rate.on_rate_limited(None)
    assert rate.rate is not None and rate.rate >= 10.0 * RATE_SAFETY * 0.25 - 1e-9
