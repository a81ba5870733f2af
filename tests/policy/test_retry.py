from __future__ import annotations

import random

import pytest

from pipeline.errors import (
    RateLimited,
    ReplyInvalid,
    RequestRejected,
    ServerError,
    TransportError,
)
from pipeline.policy import RetryPolicy


def test_permanent_errors_are_not_retried() -> None:
    policy = RetryPolicy(max_attempts=6)
    decision = policy.decide(
        RequestRejected("bad", code="INVALID_ARGUMENT", http_status=400), 1
    )
    assert decision.retry is False


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3)
    error = ServerError("boom", code="INTERNAL", http_status=500)
    assert policy.decide(error, 1).retry
    assert policy.decide(error, 2).retry
    assert not policy.decide(error, 3).retry


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 8])
def test_full_jitter_stays_under_the_exponential_cap(attempt: int) -> None:
    policy = RetryPolicy(max_attempts=20, base_delay_s=1.0, max_delay_s=60.0)
    rng = random.Random(attempt)
    cap = min(60.0, 2 ** (attempt - 1))
    delays = [
        policy.decide(TransportError("t", code="TIMEOUT"), attempt, rng).delay_s
        for _ in range(200)
    ]
    assert all(0.0 <= d <= cap for d in delays)
    assert max(delays) > cap * 0.5  # full jitter spreads over the whole range


def test_never_sooner_than_the_server_hint() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay_s=0.1)
    rng = random.Random(0)
    for _ in range(100):
        decision = policy.decide(
            RateLimited("slow down", code="RESOURCE_EXHAUSTED", retry_after=7.5), 1, rng
        )
        assert 7.5 <= decision.delay_s <= 7.5 * 1.1 + 0.05


def test_rate_limited_without_hint_waits_at_least_the_base_delay() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay_s=2.0)
    rng = random.Random(1)
    for _ in range(50):
        assert (
            policy.decide(RateLimited("429", code="RESOURCE_EXHAUSTED"), 1, rng).delay_s
            >= 2.0
        )


def test_invalid_replies_are_retried() -> None:
    assert (
        RetryPolicy(max_attempts=2)
        .decide(ReplyInvalid("x", code="SCHEMA_MISMATCH"), 1)
        .retry
    )
