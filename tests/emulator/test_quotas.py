"""Rolling windows of the server-side limits: admission, the wait until admission, no charge on refusal."""

from __future__ import annotations

import pytest

from pipeline.emulator.quotas import Quotas, RollingWindow


def test_window_admits_up_to_the_limit_then_reports_the_wait() -> None:
    w = RollingWindow(2, 10.0)
    for t in (0.0, 1.0):
        assert w.wait(t, 1) == 0
        w.add(t, 1)
    assert w.wait(2.0, 1) == pytest.approx(8.0)  # the entry at t=0 leaves at t=10
    assert w.wait(10.0, 1) == 0


def test_weighted_wait_counts_enough_old_entries() -> None:
    w = RollingWindow(100, 60.0)
    w.add(0.0, 50)
    w.add(10.0, 40)
    assert w.wait(20.0, 60) == pytest.approx(
        40.0
    )  # 90 + 60 - 100: the entry of 50 must leave (t=60)
    assert w.wait(20.0, 100) == pytest.approx(50.0)  # both must leave (t=70)
    assert w.wait(20.0, 101) == 60.0  # never fits: a whole window


def test_refused_requests_use_no_quota() -> None:
    q = Quotas(rpm=1, tpm=None, rpd=None, window_s=60.0, day_window_s=86400.0)
    assert q.admit("k", "m", 10, 0.0) is None
    for t in (1.0, 2.0, 3.0):
        refusal = q.admit("k", "m", 10, t)
        assert refusal is not None and refusal.kind == "rpm"
    assert q.admit("k", "m", 10, 60.0) is None


def test_limits_are_per_key_and_model() -> None:
    q = Quotas(rpm=1, tpm=None, rpd=None, window_s=60.0, day_window_s=86400.0)
    assert q.admit("a", "m", 1, 0.0) is None
    assert q.admit("b", "m", 1, 0.0) is None
    assert q.admit("a", "n", 1, 0.0) is None
    assert q.admit("a", "m", 1, 0.0) is not None


def test_the_longest_wait_names_the_limit() -> None:
    q = Quotas(rpm=5, tpm=100, rpd=2, window_s=1.0, day_window_s=100.0)
    assert q.admit("k", "m", 10, 0.0) is None
    assert q.admit("k", "m", 10, 0.1) is None
    refusal = q.admit("k", "m", 10, 0.2)
    assert (
        refusal is not None
        and refusal.kind == "rpd"
        and refusal.retry_after_s == pytest.approx(99.8)
    )
    tokens = Quotas(rpm=None, tpm=100, rpd=None, window_s=1.0, day_window_s=100.0)
    assert tokens.admit("k", "m", 80, 0.0) is None
    refusal = tokens.admit("k", "m", 30, 0.5)
    assert (
        refusal is not None
        and refusal.kind == "tpm"
        and refusal.retry_after_s == pytest.approx(0.5)
    )
