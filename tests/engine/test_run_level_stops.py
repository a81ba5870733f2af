"""Errors that concern the whole run stop it once, leave what was not sent pending, and resume once fixed."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from support import JobWriter, run_cli

from pipeline.emulator import EmulatorConfig, EmulatorThread

KEY = {"GEMINI_API_KEY": "stop-key-123456"}
CONCURRENCY = 4


def statuses(out: Path) -> Counter[str]:
    table = ds.dataset(out / "results").to_table(columns=["id", "status"]).to_pylist()
    return Counter(str(row["status"]) for row in table)


def generate_requests(ledger: dict[str, Any]) -> dict[str, int]:
    """Answers by HTTP status, summed over the generateContent routes."""
    total: Counter[str] = Counter()
    for route, by_status in ledger["requests_by_route"].items():
        if "generateContent" in route:
            total.update(by_status)
    return dict(total)


def summary(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return loaded


def rows(n: int) -> list[dict[str, str]]:
    return [{"id": f"r{i:03d}", "prompt": f"question {i}"} for i in range(n)]


@pytest.mark.parametrize(
    ("model", "system", "code", "ended"),
    [
        ("gemini-9-does-not-exist", None, "NOT_FOUND", "refused"),
        (
            "gemini-3.1-pro-preview",
            "[[emu:error=billing]]",
            "FAILED_PRECONDITION",
            "refused",
        ),
    ],
)
def test_a_refusal_of_the_whole_run_stops_it_with_exit_2_and_resumes_once_fixed(
    make_job: JobWriter,
    tmp_path: Path,
    model: str,
    system: str | None,
    code: str,
    ended: str,
) -> None:
    out = tmp_path / "out"
    with EmulatorThread(EmulatorConfig(port=0, latency_ms=50.0)) as emulator:
        prompt = {"system": system} if system else {}
        job = make_job(
            rows(200),
            provider={"model": model, "base_url": emulator.base_url},
            limits={"concurrency": CONCURRENCY},
            prompt=prompt,
        )
        first = run_cli("run", str(job), "--out", str(out), env=KEY)
        sent = sum(generate_requests(emulator.ledger()).values())
        assert first.returncode == 2, first.stderr
        assert code in first.stderr and "Traceback" not in first.stderr
        # at most the requests already in flight went out after the first refusal
        assert sent <= CONCURRENCY, sent
        assert statuses(out) == {"pending": 200}
        assert summary(out)["ended"] == ended and code in summary(out)["stop_reason"]

        fixed = make_job(
            rows(200),
            provider={"model": "gemini-3.1-pro-preview", "base_url": emulator.base_url},
            limits={"concurrency": CONCURRENCY},
        )
        again = run_cli(
            "run",
            str(fixed),
            "--out",
            str(out),
            "--allow-spec-change",
            "--quiet",
            env=KEY,
        )
    assert again.returncode == 0, again.stderr
    assert statuses(out) == {"ok": 200}


def test_a_used_up_daily_quota_stops_with_exit_3_and_resumes_when_it_resets(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = EmulatorConfig(port=0, latency_ms=20.0, rpd=30, day_window_s=3.0)
    with EmulatorThread(config) as emulator:
        job = make_job(
            rows(40),
            provider={"base_url": emulator.base_url},
            limits={"concurrency": CONCURRENCY},
        )
        first = run_cli("run", str(job), "--out", str(out), env=KEY)
        answers = generate_requests(emulator.ledger())
        assert first.returncode == 3, first.stderr
        assert (
            "PerDay" in first.stderr
            or "per_day" in first.stderr
            or "RESOURCE_EXHAUSTED" in first.stderr
        )
        assert answers.get("429", 0) <= CONCURRENCY, (
            answers
        )  # stopped at the first, not row by row
        assert statuses(out) == {"ok": 30, "pending": 10}
        assert summary(out)["ended"] == "provider_quota"
        time.sleep(3.5)  # the emulator's (compressed) day turns
        again = run_cli("run", str(job), "--out", str(out), "--quiet", env=KEY)
    assert again.returncode == 0, again.stderr
    assert statuses(out) == {"ok": 40}


def test_the_circuit_breaker_stops_a_run_whose_first_requests_all_fail_alike(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            [
                {"id": f"r{i:03d}", "prompt": f"q {i} [[emu:fail=400]]"}
                for i in range(300)
            ],
            provider={"base_url": emulator.base_url},
            limits={"concurrency": CONCURRENCY},
        )
        result = run_cli("run", str(job), "--out", str(out), env=KEY)
        sent = sum(generate_requests(emulator.ledger()).values())
    assert result.returncode == 2, result.stderr
    assert (
        "the first 20 requests were all refused with INVALID_ARGUMENT" in result.stderr
    )
    assert sent <= 20 + CONCURRENCY
    counts = statuses(out)
    assert (
        counts["failed"] <= 20 + CONCURRENCY
        and counts["pending"] >= 300 - 20 - CONCURRENCY
    )


def test_truncated_replies_keep_their_text_and_thoughts_never_mix_into_text(
    make_job: JobWriter, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = make_job(
            [{"id": "cut", "prompt": "Write a long essay about lighthouses."}],
            provider={"model": "gemini-3-flash-preview", "base_url": emulator.base_url},
            generation={"max_output_tokens": 40, "thinking_level": "minimal"},
            name="cut",
        )
        cut = run_cli("run", str(job), "--out", str(out / "cut"), "--quiet", env=KEY)
        thinking = make_job(
            [{"id": "think", "prompt": "Why is the sky blue?"}],
            provider={"model": "gemini-3-flash-preview", "base_url": emulator.base_url},
            generation={"thinking_level": "high", "include_thoughts": True},
            name="think",
        )
        thought = run_cli(
            "run", str(thinking), "--out", str(out / "think"), "--quiet", env=KEY
        )
    assert cut.returncode == 1, cut.stderr
    row = ds.dataset(out / "cut" / "results").to_table().to_pylist()[0]
    assert row["status"] == "truncated" and row["error_code"] == "MAX_TOKENS"
    assert row["text"] and "max_output_tokens" in row["error_message"]
    assert thought.returncode == 0, thought.stderr
    row = ds.dataset(out / "think" / "results").to_table().to_pylist()[0]
    assert row["thoughts"] and row["text"] and row["thoughts"] not in row["text"]
    assert row["thinking_tokens"] > 0
