"""The engine through its public entry point, `run_job`, with a scripted transport (no network)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from support import JobWriter

from pipeline.engine import RunOptions, run_job
from pipeline.errors import BudgetExhausted, CredentialsError
from pipeline.records import HttpRequest, HttpResponse
from pipeline.spec import load_spec
from pipeline.transport import MockTransport

KEY = {"GEMINI_API_KEY": "test-key-not-real"}


def gemini_reply(
    text: str, prompt_tokens: int = 10, out: int = 5, thoughts: int = 7
) -> HttpResponse:
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": out,
            "thoughtsTokenCount": thoughts,
            "totalTokenCount": prompt_tokens + out + thoughts,
        },
        "modelVersion": "gemini-3.1-pro-preview",
        "responseId": "r1",
    }
    return HttpResponse(
        200, {"content-type": "application/json"}, json.dumps(body).encode()
    )


def error_reply(code: int, status: str) -> HttpResponse:
    body = {"error": {"code": code, "message": f"{status} from test", "status": status}}
    return HttpResponse(
        code, {"content-type": "application/json"}, json.dumps(body).encode()
    )


def prompt_of(request: HttpRequest) -> str:
    assert isinstance(request.body, bytes)
    body = json.loads(request.body)
    return str(body["contents"][0]["parts"][-1]["text"])


def echo(request: HttpRequest) -> HttpResponse:
    return gemini_reply("echo: " + prompt_of(request))


def results(out: Path) -> list[dict[str, object]]:
    return ds.dataset(out / "results").to_table().to_pylist()


def options(out: Path, **kw: object) -> RunOptions:
    return RunOptions(out_dir=out, environ=KEY, handle_signals=False, **kw)  # type: ignore[arg-type]


async def test_every_row_gets_its_own_reply(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"question {i}"} for i in range(200)]
    spec = load_spec(make_job(rows))
    result = await run_job(
        spec, options(tmp_path / "out"), transport=MockTransport(echo)
    )
    table = results(tmp_path / "out")
    assert len(table) == 200
    for row in table:
        assert row["status"] == "ok"
        assert row["text"] == f"echo: question {str(row['id'])[1:]}"
        assert row["input_tokens"] == 10 and row["thinking_tokens"] == 7
        assert row["cost_usd"] == pytest.approx((10 * 2.0 + 12 * 12.0) / 1e6)
    assert result.stopped is None
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows"]["ok"] == 200


async def test_retries_then_succeeds_and_counts_attempts(
    make_job: JobWriter, tmp_path: Path
) -> None:
    seen: Counter[str] = Counter()

    def flaky(request: HttpRequest) -> HttpResponse:
        text = prompt_of(request)
        seen[text] += 1
        if text.startswith("flaky") and seen[text] < 3:
            return error_reply(503, "UNAVAILABLE")
        if text.startswith("bad"):
            return error_reply(400, "INVALID_ARGUMENT")
        return echo(request)

    rows = [
        {"id": "a", "prompt": "flaky a"},
        {"id": "b", "prompt": "bad b"},
        {"id": "c", "prompt": "fine"},
    ]
    spec = load_spec(make_job(rows))
    await run_job(spec, options(tmp_path / "out"), transport=MockTransport(flaky))
    by_id = {row["id"]: row for row in results(tmp_path / "out")}
    assert by_id["a"]["status"] == "ok" and by_id["a"]["attempts"] == 3
    assert by_id["b"]["status"] == "failed" and by_id["b"]["attempts"] == 1
    assert by_id["b"]["error_code"] == "INVALID_ARGUMENT"
    assert (
        by_id["b"]["latency_ms"] is not None
    )  # the time of the last attempt, failed or not
    assert by_id["c"]["attempts"] == 1


async def test_invalid_rows_are_recorded_and_the_run_goes_on(
    make_job: JobWriter, tmp_path: Path
) -> None:
    lines = [
        '{"id": "ok1", "prompt": "hi"}',
        "{not json",
        '{"id": "ok1", "prompt": "dup"}',
        '{"id": "x"}',
    ]
    spec = load_spec(make_job(raw_lines=lines))
    await run_job(spec, options(tmp_path / "out"), transport=MockTransport(echo))
    table = results(tmp_path / "out")
    statuses = Counter(str(row["status"]) for row in table)
    assert statuses == {"ok": 1, "invalid": 3}
    messages = " ".join(
        str(row["error_message"]) for row in table if row["status"] == "invalid"
    )
    assert "line 2" in messages and "line 3" in messages and "line 4" in messages


async def test_resume_sends_only_rows_without_a_final_outcome(
    make_job: JobWriter, tmp_path: Path
) -> None:
    sent: list[str] = []

    def record(request: HttpRequest) -> HttpResponse:
        sent.append(prompt_of(request))
        return echo(request)

    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(30)]
    job = make_job(rows)
    spec = load_spec(job)
    await run_job(
        spec, options(tmp_path / "out", limit=10), transport=MockTransport(record)
    )
    assert len(sent) == 10
    await run_job(spec, options(tmp_path / "out"), transport=MockTransport(record))
    assert len(sent) == 30
    assert len(set(sent)) == 30  # nothing was paid for twice
    assert len(results(tmp_path / "out")) == 30


async def test_budget_stops_the_run_before_it_is_passed(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(50)]
    job = make_job(
        rows, limits={"budget_usd": 0.05}, generation={"max_output_tokens": 1000}
    )
    spec = load_spec(job)

    def expensive(request: HttpRequest) -> HttpResponse:
        return gemini_reply("long answer", out=900, thoughts=50)  # ~$0.0114 a row

    result = await run_job(
        spec, options(tmp_path / "out"), transport=MockTransport(expensive)
    )
    assert isinstance(result.stopped, BudgetExhausted)
    table = results(tmp_path / "out")
    assert len(table) == 50  # one row per input id, the ones not sent are pending
    done = [row for row in table if row["status"] != "pending"]
    assert 0 < len(done) < 50
    assert all(row["status"] == "ok" for row in done)
    assert sum(float(row["cost_usd"]) for row in done) <= 0.05  # type: ignore[arg-type]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ended"] == "budget"


async def test_refused_key_stops_the_run_without_leaking_it(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(20)]
    spec = load_spec(make_job(rows))

    def refuse(request: HttpRequest) -> HttpResponse:
        return error_reply(403, "PERMISSION_DENIED")

    with pytest.raises(CredentialsError) as info:
        await run_job(spec, options(tmp_path / "out"), transport=MockTransport(refuse))
    assert "test-key-not-real" not in str(info.value)
    assert "GEMINI_API_KEY" in str(info.value)
