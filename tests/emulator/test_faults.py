"""Directive parsing and fault decisions: pure functions, no server."""

from __future__ import annotations

import pytest

from pipeline.emulator.faults import (
    NO_FAULT,
    DirectiveError,
    decide,
    parse,
    random_fault,
)


def test_no_marker_means_no_directives() -> None:
    assert parse("plain prompt").items == {}
    assert decide(parse("plain prompt"), 1) is NO_FAULT


def test_fail_applies_to_the_first_n_attempts_only() -> None:
    d = parse("hello [[emu:fail=503x2]]")
    assert [decide(d, a).status for a in (1, 2, 3)] == [503, 503, None]


def test_fail_without_count_applies_to_every_attempt() -> None:
    d = parse("[[emu:fail=500]]")
    assert all(decide(d, a).status == 500 for a in range(1, 6))


def test_429_carries_retry_delay_default_explicit_or_none() -> None:
    assert decide(parse("[[emu:fail=429x1]]"), 1, default_retry_s=1.0).retry_s == 1.0
    assert decide(parse("[[emu:fail=429x1,retry=3s]]"), 1).retry_s == 3.0
    assert decide(parse("[[emu:fail=429x1,retry=0.25]]"), 1).retry_s == 0.25
    assert decide(parse("[[emu:fail=429x1,retry=none]]"), 1).retry_s is None


@pytest.mark.parametrize(
    ("text", "attempt", "field", "value"),
    [
        ("[[emu:hang=5]]", 3, "hang_s", 5.0),
        ("[[emu:hang=5x1]]", 2, "hang_s", 0.0),
        ("[[emu:reset]]", 4, "reset", True),
        ("[[emu:resetx1]]", 2, "reset", False),
        ("[[emu:malformed]]", 1, "malformed", True),
        ("[[emu:truncatedx1]]", 1, "truncated", True),
        ("[[emu:latency=1.5]]", 1, "latency_s", 1.5),
        ("[[emu:block=safety]]", 1, "block", "SAFETY"),
        ("[[emu:finish=SAFETY]]", 1, "finish", "SAFETY"),
        ("[[emu:max_tokens]]", 1, "max_tokens", True),
        ("[[emu:image_safety]]", 1, "image_safety", True),
        ("[[emu:no_image]]", 1, "no_image", True),
        ("[[emu:json_invalidx1]]", 1, "json_invalid", True),
        ("[[emu:json_invalidx1]]", 2, "json_invalid", False),
    ],
)
def test_each_directive(text: str, attempt: int, field: str, value: object) -> None:
    assert getattr(decide(parse(text), attempt), field) == value


def test_several_blocks_and_items_combine() -> None:
    d = decide(parse("a [[emu:fail=503x1]] b [[emu:latency=0.5, json_invalid]]"), 1)
    assert (d.status, d.latency_s, d.json_invalid) == (503, 0.5, True)


@pytest.mark.parametrize(
    "text",
    [
        "[[emu:explode]]",
        "[[emu:fail=418]]",
        "[[emu:fail=abc]]",
        "[[emu:block=NOPE]]",
        "[[emu:retry=soon]]",
    ],
)
def test_bad_directives_are_refused(text: str) -> None:
    with pytest.raises(DirectiveError):
        parse(text)


def test_random_faults_are_a_pure_function_of_seed_body_and_attempt() -> None:
    mix = ("500", "503", "reset")
    draws = [random_fault(7, b"body", a, 0.5, mix) for a in range(1, 200)]
    assert draws == [random_fault(7, b"body", a, 0.5, mix) for a in range(1, 200)]
    assert draws != [random_fault(8, b"body", a, 0.5, mix) for a in range(1, 200)]
    hits = [d for d in draws if d is not None]
    assert 60 < len(hits) < 140 and set(hits) == set(mix)
    assert random_fault(7, b"body", 1, 0.0, mix) is None


def test_directives_win_over_random_faults() -> None:
    d = parse("[[emu:fail=504]]")
    for attempt in range(1, 50):
        assert (
            decide(
                d, attempt, body_hash=b"x", fault_rate=1.0, fault_mix=("reset",)
            ).status
            == 504
        )


def test_random_fault_kinds_map_to_decisions() -> None:
    none = parse("")
    hang = decide(
        none, 1, body_hash=b"x", fault_rate=1.0, fault_mix=("hang",), hang_s=9.0
    )
    assert hang.hang_s == 9.0 and hang.random
    limited = decide(
        none, 1, body_hash=b"x", fault_rate=1.0, fault_mix=("429",), default_retry_s=2.0
    )
    assert (limited.status, limited.retry_s) == (429, 2.0)
