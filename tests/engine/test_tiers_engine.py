"""Flex in the engine with a scripted transport: a full Flex backs off the tier, never the pace, spends no
attempts, and falls back to Standard after `flex_fallback_after_s`."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
from support import JobWriter

from pipeline.engine import RunOptions, run_job
from pipeline.records import HttpRequest, HttpResponse
from pipeline.spec import load_spec
from pipeline.transport import MockTransport

KEY = {"GEMINI_API_KEY": "test-key-not-real"}


def reply(tier: str) -> HttpResponse:
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "fine"}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 1000,
            "candidatesTokenCount": 100,
            "totalTokenCount": 1100,
            "serviceTier": tier,
        },
    }
    return HttpResponse(200, {"x-gemini-service-tier": tier}, json.dumps(body).encode())


def refusal(status: int, quota: bool = False) -> HttpResponse:
    error: dict[str, object] = {
        "code": status,
        "message": "The system is currently at capacity."
        if status == 503
        else "Resource has been exhausted (e.g. check quota).",
        "status": "UNAVAILABLE" if status == 503 else "RESOURCE_EXHAUSTED",
    }
    if quota:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": "0.05s",
            },
        ]
    return HttpResponse(status, {}, json.dumps({"error": error}).encode())


def tier_of(request: HttpRequest) -> str:
    assert isinstance(request.body, bytes)
    return str(json.loads(request.body).get("serviceTier", "standard"))


def options(out: Path) -> RunOptions:
    return RunOptions(out_dir=out, environ=KEY, handle_signals=False)


def results(out: Path) -> list[dict[str, object]]:
    return ds.dataset(out / "results").to_table().to_pylist()


async def test_flex_at_capacity_backs_off_the_tier_not_the_pace(
    make_job: JobWriter, tmp_path: Path
) -> None:
    sent: list[str] = []

    def serve(request: HttpRequest) -> HttpResponse:
        tier = tier_of(request)
        sent.append(tier)
        if len(sent) <= 6:  # Flex is full for the first requests: a 429 naming no quota
            return refusal(429)
        return reply(tier)

    rows = [{"id": f"r{i}", "prompt": f"q{i}"} for i in range(6)]
    spec = load_spec(
        make_job(
            rows,
            generation={"service_tier": "flex"},
            limits={"concurrency": 6, "max_attempts": 2, "requests_per_minute": 6000},
        )
    )
    result = await run_job(
        spec, options(tmp_path / "out"), transport=MockTransport(serve)
    )
    table = results(tmp_path / "out")
    assert all(row["status"] == "ok" and row["service_tier"] == "flex" for row in table)
    assert set(sent) == {"flex"}
    # Six refusals, yet max_attempts = 2 was not spent, and the pacer never heard of them.
    assert sum(int(row["attempts"]) for row in table) == 12  # type: ignore[call-overload]
    assert result.stats.rate_limited == 0
    tiers = result.summary["tiers"]
    assert tiers["flex_refused"] == 6  # type: ignore[index]
    assert tiers["served"]["flex"]["rows"] == 6  # type: ignore[index]


async def test_a_flex_429_that_names_a_quota_is_a_rate_limit(
    make_job: JobWriter, tmp_path: Path
) -> None:
    calls = 0

    def serve(request: HttpRequest) -> HttpResponse:
        nonlocal calls
        calls += 1
        return refusal(429, quota=True) if calls == 1 else reply(tier_of(request))

    spec = load_spec(
        make_job([{"id": "a", "prompt": "q"}], generation={"service_tier": "flex"})
    )
    result = await run_job(
        spec, options(tmp_path / "out"), transport=MockTransport(serve)
    )
    assert result.stats.rate_limited == 1
    assert result.summary["tiers"]["flex_refused"] == 0  # type: ignore[index]


async def test_a_row_flex_keeps_refusing_goes_at_standard(
    make_job: JobWriter, tmp_path: Path
) -> None:
    def serve(request: HttpRequest) -> HttpResponse:
        tier = tier_of(request)
        return refusal(503) if tier == "flex" else reply("standard")

    rows = [{"id": f"r{i}", "prompt": f"q{i}"} for i in range(3)]
    spec = load_spec(
        make_job(
            rows,
            generation={"service_tier": "flex"},
            limits={"flex_fallback_after_s": 0.2, "max_attempts": 2},
        )
    )
    result = await run_job(
        spec, options(tmp_path / "out"), transport=MockTransport(serve)
    )
    table = results(tmp_path / "out")
    assert all(
        row["status"] == "ok" and row["service_tier"] == "standard" for row in table
    )
    assert result.summary["tiers"]["flex_fallbacks"] == 3  # type: ignore[index]
    # Priced as served: 1,000 input and 100 output tokens at Standard 3.1 Pro rates ($2, $12 per 1M).
    assert all(row["cost_usd"] == 0.0032 for row in table)


async def test_without_a_fallback_a_row_fails_once_flex_refused_it_too_often(
    make_job: JobWriter, tmp_path: Path, monkeypatch: object
) -> None:
    import pipeline.engine._tiers as tiers

    monkeypatch.setattr(tiers, "MAX_FLEX_SHEDS", 3)  # type: ignore[attr-defined]
    monkeypatch.setattr(tiers.FlexBackoff, "on_refused", lambda self, hint=None: 0.0)  # type: ignore[attr-defined]
    spec = load_spec(
        make_job([{"id": "a", "prompt": "q"}], generation={"service_tier": "flex"})
    )
    await run_job(
        spec, options(tmp_path / "out"), transport=MockTransport(lambda r: refusal(503))
    )
    [row] = results(tmp_path / "out")
    assert (row["status"], row["error_code"], row["attempts"]) == (
        "failed",
        "UNAVAILABLE",
        3,
    )


async def test_a_cache_that_vanishes_mid_run_is_made_again(
    make_job: JobWriter, tmp_path: Path
) -> None:
    created: list[str] = []
    deleted: list[str] = []
    refused: set[str] = set()

    def serve(request: HttpRequest) -> HttpResponse:
        if request.url.endswith("/cachedContents") and request.method == "POST":
            name = f"cachedContents/c{len(created) + 1}"
            created.append(name)
            resource = {"name": name, "usageMetadata": {"totalTokenCount": 5000},
                        "expireTime": "2099-01-01T00:00:00Z"}  # fmt: skip
            return HttpResponse(200, {}, json.dumps(resource).encode())
        if request.method == "DELETE":
            deleted.append("cachedContents/" + request.url.rsplit("/", 1)[-1])
            return HttpResponse(200, {}, b"{}")
        assert isinstance(request.body, bytes)
        body = json.loads(request.body)
        assert "systemInstruction" not in body
        name = body["cachedContent"]
        if (
            name == "cachedContents/c1" and len(refused) < 3
        ):  # expired under the first rows
            refused.add(body["contents"][0]["parts"][-1]["text"])
            gone = {"code": 403, "message": "CachedContent not found (or permission denied)",
                    "status": "PERMISSION_DENIED"}  # fmt: skip
            return HttpResponse(403, {}, json.dumps({"error": gone}).encode())
        return reply("standard")

    system = "Use the handbook. " * 1200  # ~5,400 tokens: above 3.1 Pro's 4,096
    rows = [{"id": f"r{i}", "prompt": f"q{i}"} for i in range(8)]
    spec = load_spec(
        make_job(
            rows,
            prompt={"system": system},
            cache={"enabled": True},
            limits={"concurrency": 2},
        )
    )
    result = await run_job(
        spec, options(tmp_path / "out"), transport=MockTransport(serve)
    )
    assert all(row["status"] == "ok" for row in results(tmp_path / "out"))
    assert created == ["cachedContents/c1", "cachedContents/c2"]
    assert deleted == ["cachedContents/c2"]  # the first was gone already
    cache = result.summary["cache"]
    assert (cache["created"], cache["state"], cache["name"]) == (
        2,
        "deleted",
        "cachedContents/c2",
    )  # type: ignore[index]
    assert cache["creation_usd"] == 2 * 5000 * 2.0 / 1e6  # type: ignore[index]
