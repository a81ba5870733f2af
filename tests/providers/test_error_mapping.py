"""The HTTP error table, row by row, and the readers of error bodies and retry hints."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pipeline.errors import (
    AttemptError,
    CacheGone,
    CredentialsError,
    FileGone,
    PipelineError,
    QuotaExhausted,
    RateLimited,
    RequestRejected,
    RunRejected,
    ServerError,
    TransportError,
)
from pipeline.providers._errors_map import (
    RULES,
    Call,
    ErrorBody,
    error_for,
    parse_duration,
    parse_reset,
    read_error_body,
    redact,
    retry_after_from_headers,
    rule_for,
)
from pipeline.records import HttpResponse

API_KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
            }
        ],
    }
}


def google(status: int, code: str, message: str = "msg") -> dict[str, object]:
    return {"error": {"code": status, "message": message, "status": code}}


# (status, body, call) -> (class, code, retryable). One case per row of RULES, in the table's order.
CASES: list[tuple[int, object, Call, type[PipelineError], str | None]] = [
    (400, API_KEY_INVALID, "generate", CredentialsError, None),
    (401, google(401, "UNAUTHENTICATED"), "generate", CredentialsError, None),
    (
        403,
        google(403, "PERMISSION_DENIED"),
        "files",
        FileGone,
        "PERMISSION_DENIED",
    ),
    (403, google(403, "PERMISSION_DENIED"), "cache", CacheGone, "PERMISSION_DENIED"),
    (
        403,
        google(
            403, "PERMISSION_DENIED", "CachedContent not found (or permission denied)"
        ),
        "generate",
        CacheGone,
        "PERMISSION_DENIED",
    ),
    (
        403,
        google(
            403, "PERMISSION_DENIED", "cannot access the File abc or it may not exist"
        ),
        "generate",
        FileGone,
        "PERMISSION_DENIED",
    ),
    (403, google(403, "PERMISSION_DENIED"), "generate", CredentialsError, None),
    (
        404,
        google(
            404,
            "NOT_FOUND",
            "models/gemini-2.0-flash is not found for API version v1beta",
        ),
        "generate",
        RunRejected,
        "NOT_FOUND",
    ),
    (
        404,
        {
            "error": {
                "message": "The model `x` does not exist",
                "type": "invalid_request_error",
                "code": "model_not_found",
            }
        },
        "generate",
        RunRejected,
        "model_not_found",
    ),
    (
        400,
        google(
            400,
            "FAILED_PRECONDITION",
            "Gemini API free tier is not available in your country.",
        ),
        "generate",
        RunRejected,
        "FAILED_PRECONDITION",
    ),
    (408, b"Request Timeout", "generate", TransportError, "DEADLINE_EXCEEDED"),
    (
        429,
        {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "message": "You exceeded your current quota",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}
                        ],
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": "23s",
                    },
                ],
            }
        },
        "generate",
        QuotaExhausted,
        "RESOURCE_EXHAUSTED",
    ),
    (
        429,
        google(429, "RESOURCE_EXHAUSTED"),
        "generate",
        RateLimited,
        "RESOURCE_EXHAUSTED",
    ),
    (500, google(500, "INTERNAL"), "generate", ServerError, "INTERNAL"),
    (
        400,
        google(400, "INVALID_ARGUMENT"),
        "generate",
        RequestRejected,
        "INVALID_ARGUMENT",
    ),
    (302, b"", "generate", RequestRejected, "HTTP_302"),
]


def http(
    status: int, body: object, headers: dict[str, str] | None = None
) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, raw)


def test_every_rule_has_a_case() -> None:
    matched = [
        rule_for(status, read_error_body(http(status, body).body), call)
        for status, body, call, *_ in CASES
    ]
    assert matched == list(RULES)


@pytest.mark.parametrize(("status", "body", "call", "target", "code"), CASES)
def test_rule(
    status: int, body: object, call: Call, target: type[PipelineError], code: str | None
) -> None:
    error = error_for(
        http(status, body),
        credentials_hint="check the value of GEMINI_API_KEY",
        call=call,
    )
    assert type(error) is target
    if isinstance(error, AttemptError):
        assert error.code == code
        assert error.http_status == status
    else:
        assert "GEMINI_API_KEY" in str(error)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, "INTERNAL"),
        (502, "BAD_GATEWAY"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
        (520, "HTTP_520"),
    ],
)
def test_every_5xx_is_a_retryable_server_error(status: int, code: str) -> None:
    error = error_for(
        http(status, b"<html><body><h1>Bad   gateway</h1></body></html>"),
        credentials_hint="",
    )
    assert isinstance(error, ServerError)
    assert error.retryable
    assert error.code == code
    assert str(error) == "Bad gateway"


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_other_4xx_are_rejected_at_once(status: int) -> None:
    error = error_for(http(status, {"error": {"message": "no"}}), credentials_hint="")
    assert isinstance(error, RequestRejected)
    assert not error.retryable


def test_retry_info_wins_over_the_header() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "slow down",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": "1.250s",
                }
            ],
        }
    }
    error = error_for(http(429, body, {"retry-after": "30"}), credentials_hint="")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 1.25
    header_only = error_for(
        http(429, google(429, "RESOURCE_EXHAUSTED"), {"retry-after": "30"}),
        credentials_hint="",
    )
    assert header_only.retry_after == 30.0  # type: ignore[union-attr]


def test_a_503_honours_retry_after_but_a_400_ignores_it() -> None:
    assert (
        error_for(http(503, b"", {"retry-after": "4"}), credentials_hint="").retry_after
        == 4.0
    )  # type: ignore[union-attr]
    assert (
        error_for(http(400, b"", {"retry-after": "4"}), credentials_hint="").retry_after
        is None
    )  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            json.dumps(google(503, "UNAVAILABLE", "The model is overloaded.")).encode(),
            ErrorBody("UNAVAILABLE", "The model is overloaded."),
        ),
        (
            json.dumps([google(400, "INVALID_ARGUMENT", "bad")]).encode(),
            ErrorBody("INVALID_ARGUMENT", "bad"),
        ),
        (
            b'{"error": {"message": "Rate limit", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}',
            ErrorBody("rate_limit_exceeded", "Rate limit"),
        ),
        (
            b'{"error": {"message": "x", "type": "server_error", "code": null}}',
            ErrorBody("server_error", "x"),
        ),
        (b'{"error": "plain words"}', ErrorBody(None, "plain words")),
        (b"upstream connect error", ErrorBody(None, "upstream connect error")),
        (b"", ErrorBody(None, "")),
        (b"[1, 2]", ErrorBody(None, "[1, 2]")),
    ],
)
def test_error_body_shapes(raw: bytes, expected: ErrorBody) -> None:
    assert read_error_body(raw) == expected


def test_long_messages_are_clipped() -> None:
    assert len(read_error_body(b"x" * 10_000).message) == 500


def test_an_empty_body_still_gives_a_message() -> None:
    assert (
        str(error_for(http(502, b""), credentials_hint=""))
        == "HTTP 502 with an empty body"
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("26s", 26.0),
        ("1.250s", 1.25),
        ("0.5s", 0.5),
        ({"seconds": 3, "nanos": 500_000_000}, 3.5),
        ("soon", None),
        (7, None),
    ],
)
def test_durations(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


def test_retry_after_headers() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_from_headers({"retry-after-ms": "250"}) == 0.25
    assert retry_after_from_headers({"retry-after": "2.5"}) == 2.5
    assert (
        retry_after_from_headers({"retry-after": "Thu, 01 Jan 2026 12:00:10 GMT"}, now)
        == 10.0
    )
    assert (
        retry_after_from_headers({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}, now)
        == 0.0
    )
    assert retry_after_from_headers({"retry-after": "whenever"}) is None
    assert retry_after_from_headers({"retry-after": "nan"}) is None
    assert retry_after_from_headers({}) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("1m30.5s", 90.5),
        ("20ms", 0.02),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
        ("2.5", 2.5),
        ("1767225630", 30.0),  # Unix seconds: 30 s after `now`
        ("1767225630000", 30.0),  # Unix milliseconds
        ("soon", None),
        ("5 s", None),
        ("1x", None),
    ],
)
def test_rate_limit_resets(value: str, seconds: float | None) -> None:
    now = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert parse_reset(value, now) == seconds


def test_x_ratelimit_headers_give_the_wait_of_the_exhausted_limit() -> None:
    """Without retry-after, the reset of the limit at zero is the hint; the other limit's reset is not."""
    headers = {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2.5s",
        "x-ratelimit-limit-tokens": "100000",
        "x-ratelimit-remaining-tokens": "90000",
        "x-ratelimit-reset-tokens": "30s",
    }
    assert retry_after_from_headers(headers) == 2.5
    tokens_out = {
        **headers,
        "x-ratelimit-remaining-requests": "10",
        "x-ratelimit-remaining-tokens": "0",
    }
    assert retry_after_from_headers(tokens_out) == 30.0
    # No remaining counts: the longest reset, to be safe. retry-after wins over all of them.
    assert (
        retry_after_from_headers(
            {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "4s"}
        )
        == 4.0
    )
    assert retry_after_from_headers({**headers, "retry-after": "7"}) == 7.0
    limited = error_for(
        http(
            429,
            b'{"error": {"message": "slow", "code": "rate_limit_exceeded"}}',
            headers,
        ),
        credentials_hint="",
    )
    assert isinstance(limited, RateLimited) and limited.retry_after == 2.5


def test_redact() -> None:
    assert redact("key sk-abcdefgh123 refused", ["sk-abcdefgh123"]) == "key *** refused"
    assert redact("a short word", ["short"]) == "a short word"


@pytest.mark.parametrize(
    "details",
    [
        [
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"url": "https://ai.google.dev/"}],
            }
        ],
    ],
)
def test_a_help_only_429_is_a_used_up_quota(details: list[object]) -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "quota",
            "details": details,
        }
    }
    error = error_for(http(429, body), credentials_hint="")
    assert isinstance(error, QuotaExhausted) and error.stops_run and not error.retryable


def test_a_per_minute_429_and_a_bare_429_stay_retryable() -> None:
    minute = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "quota",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}
                    ],
                }
            ],
        }
    }
    bare = google(
        429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
    )
    for body in (minute, bare):
        error = error_for(http(429, body), credentials_hint="")
        assert type(error) is RateLimited and error.retryable


def test_a_spend_cap_429_is_a_used_up_quota() -> None:
    body = google(
        429,
        "RESOURCE_EXHAUSTED",
        "Your billing account has exceeded its monthly spending cap.",
    )
    assert isinstance(error_for(http(429, body), credentials_hint=""), QuotaExhausted)


def test_a_gone_file_names_its_id() -> None:
    body = google(
        403,
        "PERMISSION_DENIED",
        "You do not have permission to access the File abc123 or it may not exist.",
    )
    error = error_for(http(403, body), credentials_hint="")
    assert isinstance(error, FileGone) and "abc123" in error.files
