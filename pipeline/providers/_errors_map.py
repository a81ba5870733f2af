"""HTTP error replies -> pipeline errors: one table for every provider, read top to bottom.

Google sends `{"error": {"code", "message", "status", "details"}}` (list-wrapped on streaming and
OpenAI-compatible endpoints); OpenAI-style servers send `{"error": {"message", "type", "param", "code"}}`;
proxies send HTML. `read_error_body` reduces all three to an `ErrorBody`, and `error_for` picks the first row
of `RULES` that matches the HTTP status (and, for some rows, the reason or the kind of call). The messages are
the server's own words, with any credential scrubbed out, so they can go into the output as they are.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

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
from pipeline.records import HttpResponse

Call = Literal[
    "generate", "files", "cache", "batch"
]  # batch: get, list, cancel a batch job
Target = type[AttemptError] | type[CredentialsError]

MAX_MESSAGE_CHARS = 500

# HTTP status -> the Google canonical code we report when the body names none.
DEFAULT_CODES: Mapping[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "REQUEST_TOO_LARGE",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "BAD_GATEWAY",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the mapping. `statuses` None matches any status in `band` (e.g. 500-599)."""

    target: Target
    statuses: frozenset[int] | None = None
    band: range | None = None
    reason: str | None = (
        None  # an ErrorInfo reason that must be present, e.g. API_KEY_INVALID
    )
    call: Call | None = None  # the row applies only to this kind of call
    mentions: str | None = None  # text the server's message must contain (lower case)
    code: str | None = None  # the body's status / code, e.g. FAILED_PRECONDITION
    quota: Literal["day"] | None = (
        None  # a 429 whose body says a daily quota or a spend cap is used up
    )


def _rule(
    target: Target, *statuses: int, reason: str | None = None, call: Call | None = None
) -> Rule:
    return Rule(target, frozenset(statuses), None, reason, call)


# First match wins. A 403 on the Files API means "that file is gone or not yours", not a bad key.
RULES: tuple[Rule, ...] = (
    _rule(CredentialsError, 400, reason="API_KEY_INVALID"),
    _rule(CredentialsError, 401),
    _rule(FileGone, 403, 404, call="files"),
    # "CachedContent not found (or permission denied)": the cache expired or was deleted, not a refused key.
    _rule(CacheGone, 403, 404, call="cache"),
    Rule(CacheGone, frozenset({403, 404}), mentions="cachedcontent not found"),
    # "You do not have permission to access the File abc or it may not exist": the file expired or was
    # deleted, not a refused key; the row can upload it again.
    Rule(FileGone, frozenset({403, 404}), mentions="access the file"),
    _rule(CredentialsError, 403),
    # Refusals that every row would get: stop the run once rather than fail a million rows one by one.
    Rule(RunRejected, frozenset({404}), code="NOT_FOUND", call="generate"),
    Rule(RunRejected, frozenset({404}), code="model_not_found", call="generate"),
    Rule(RunRejected, frozenset({400}), code="FAILED_PRECONDITION", call="generate"),
    _rule(TransportError, 408),
    Rule(QuotaExhausted, frozenset({429}), quota="day"),
    _rule(RateLimited, 429),
    Rule(ServerError, band=range(500, 600)),
    Rule(RequestRejected, band=range(400, 500)),
    Rule(
        RequestRejected, band=range(1000)
    ),  # 1xx/3xx: redirects are not followed; a wrong base_url
)


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What an error reply said, whatever its shape."""

    code: str | None  # Google `status`, else OpenAI `code` / `type`
    message: str
    reasons: tuple[str, ...] = ()  # google.rpc.ErrorInfo reasons
    retry_delay_s: float | None = None  # google.rpc.RetryInfo
    quota_ids: tuple[str, ...] = ()  # google.rpc.QuotaFailure violations' quotaId
    help_only: bool = False  # the details hold a google.rpc.Help link and nothing else

    @property
    def daily_quota(self) -> bool:
        """A 429 that minutes of waiting will not cure: a PerDay quota, a Help-only 429 (what Google sends when
        a project's daily allowance is gone), or a spend cap."""
        if any("perday" in q.lower() for q in self.quota_ids):
            return True
        text = self.message.lower()
        return self.help_only or "spend" in text and ("cap" in text or "limit" in text)


def rule_for(status: int, body: ErrorBody, call: Call = "generate") -> Rule:
    """The first row of `RULES` that matches."""
    for rule in RULES:
        if rule.statuses is not None and status not in rule.statuses:
            continue
        if rule.band is not None and status not in rule.band:
            continue
        if rule.reason is not None and rule.reason not in body.reasons:
            continue
        if rule.call is not None and rule.call != call:
            continue
        if rule.mentions is not None and rule.mentions not in body.message.lower():
            continue
        if rule.code is not None and rule.code != body.code:
            continue
        if rule.quota == "day" and not body.daily_quota:
            continue
        return rule
    raise AssertionError("the last rule matches every status")  # pragma: no cover


def error_for(
    response: HttpResponse,
    *,
    credentials_hint: str,
    secrets: Iterable[str] = (),
    call: Call = "generate",
) -> PipelineError:
    """The exception for a non-2xx `response` (returned, not raised, so callers write `raise error_for(...)`).

    :param credentials_hint: what to check when the key is refused, e.g. "check the key in GEMINI_API_KEY".
    :param secrets: credential values to scrub from the server's message (some servers echo part of a key).
    """
    body = read_error_body(response.body)
    rule = rule_for(response.status, body, call)
    code = body.code or DEFAULT_CODES.get(response.status) or f"HTTP_{response.status}"
    message = (
        redact(body.message, secrets) or f"HTTP {response.status} with an empty body"
    )
    if not issubclass(rule.target, AttemptError):
        return CredentialsError(
            f"the provider refused the credentials (HTTP {response.status} {code}: {message}); {credentials_hint}"
        )
    retry_after: float | None = None
    if rule.target is not RequestRejected:
        retry_after = body.retry_delay_s
        if retry_after is None:
            retry_after = retry_after_from_headers(response.headers)
    assert issubclass(rule.target, AttemptError)
    if rule.target is CacheGone:
        return CacheGone(message, code=code, http_status=response.status)
    if rule.target is FileGone:
        return FileGone(
            message,
            files=file_ids(body.message),
            code=code,
            http_status=response.status,
        )
    error = rule.target(
        message, code=code, http_status=response.status, retry_after=retry_after
    )
    if isinstance(error, RateLimited):
        error.quota_ids = body.quota_ids
    return error


_FILE_ID = re.compile(r"\bfiles?(?:/|\s+)([a-z0-9][a-z0-9-]{0,39})\b")


def file_ids(message: str) -> tuple[str, ...]:
    """The Files API ids an error message names ("... access the File abc123 or it may not exist", "files/abc")."""
    return tuple(dict.fromkeys(_FILE_ID.findall(message.lower())))


def read_error_body(raw: bytes) -> ErrorBody:
    """Reduce an error body of any shape (Google, list-wrapped Google, OpenAI, plain text) to an `ErrorBody`."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        doc: Any = json.loads(text) if text else None
    except ValueError:
        return ErrorBody(None, _clip(_strip_html(text)))
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        doc = doc[0]
    if not isinstance(doc, dict):
        return ErrorBody(None, _clip(text))
    error = doc.get("error", doc)
    if isinstance(error, str):  # {"error": "some text"}, as small proxies send
        return ErrorBody(None, _clip(error))
    if not isinstance(error, dict):
        return ErrorBody(None, _clip(text))
    code = _first_string(error.get("status"), error.get("code"), error.get("type"))
    message = error.get("message")
    reasons: list[str] = []
    quota_ids: list[str] = []
    kinds: set[str] = set()
    delay: float | None = None
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        kinds.add(kind.rsplit(".", 1)[-1])
        if kind.endswith("google.rpc.ErrorInfo") and isinstance(
            detail.get("reason"), str
        ):
            reasons.append(detail["reason"])
        elif kind.endswith("google.rpc.RetryInfo"):
            delay = parse_duration(detail.get("retryDelay"))
        elif kind.endswith("google.rpc.QuotaFailure"):
            violations = detail.get("violations")
            for violation in violations if isinstance(violations, list) else ():
                if isinstance(violation, dict) and isinstance(
                    violation.get("quotaId"), str
                ):
                    quota_ids.append(violation["quotaId"])
    return ErrorBody(
        code,
        _clip(message if isinstance(message, str) else ""),
        tuple(reasons),
        delay,
        tuple(quota_ids),
        help_only=kinds == {"Help"},
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


def parse_duration(value: object) -> float | None:
    """A protobuf Duration: "26s", "1.250s", or the object form {"seconds": 26, "nanos": 250000000}."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        return float(match.group(1)) if match else None
    if isinstance(value, dict):
        seconds, nanos = value.get("seconds", 0), value.get("nanos", 0)
        try:
            return float(seconds) + float(nanos) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def retry_after_from_headers(
    headers: Mapping[str, str], now: datetime | None = None
) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI), else `retry-after` (seconds or an HTTP date), else the
    `x-ratelimit-reset-*` headers of the exhausted limit (OpenAI-style servers and aggregators)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        seconds = _finite(millis)
        if seconds is not None:
            return max(0.0, seconds / 1000.0)
    value = headers.get("retry-after")
    if value is None:
        return ratelimit_reset_from_headers(headers, now)
    seconds = _finite(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return ratelimit_reset_from_headers(headers, now)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def ratelimit_reset_from_headers(
    headers: Mapping[str, str], now: datetime | None = None
) -> float | None:
    """Seconds until the limit that refused us resets, from `x-ratelimit-reset-{requests,tokens}` (OpenAI's
    durations such as "1s", "6m0s", "20ms") or a bare `x-ratelimit-reset`. When `x-ratelimit-remaining-*`
    says which limit is at zero, only its reset counts; otherwise the longest one does, to be safe."""
    exhausted: list[float] = []
    others: list[float] = []
    for kind in ("requests", "tokens", None):
        suffix = f"-{kind}" if kind else ""
        reset = headers.get(f"x-ratelimit-reset{suffix}")
        seconds = None if reset is None else parse_reset(reset, now)
        if seconds is None:
            continue
        remaining = _finite(headers.get(f"x-ratelimit-remaining{suffix}", ""))
        (exhausted if remaining is not None and remaining <= 0 else others).append(
            seconds
        )
    waits = exhausted or others
    return max(waits) if waits else None


_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}
_EPOCH_S = 1e9  # a number this large is a point in time (Unix seconds), not a wait
_EPOCH_MS = 1e12  # ... or Unix milliseconds


def parse_reset(value: str, now: datetime | None = None) -> float | None:
    """A rate-limit reset as seconds from now: a duration ("1m30.5s", "250ms"), a number of seconds, or a Unix
    time in seconds or milliseconds (as some aggregators send). None when it cannot be read."""
    text = value.strip()
    number = _finite(text)
    if number is not None:
        if number >= _EPOCH_S:
            epoch = number / 1000.0 if number >= _EPOCH_MS else number
            return max(0.0, epoch - (now or datetime.now(UTC)).timestamp())
        return max(0.0, number)
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every credential value replaced by "***"; values shorter than 8 characters are left alone
    (they would match ordinary words, and no real key is that short)."""
    for secret in secrets:
        if len(secret) >= 8 and secret in text:
            text = text.replace(secret, "***")
    return text


def _finite(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _first_string(*values: object) -> str | None:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return None


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def _strip_html(text: str) -> str:
    """A proxy's HTML error page, reduced to its words."""
    if "<" not in text:
        return text
    return _SPACE.sub(" ", _TAG.sub(" ", text)).strip()


def _clip(text: str) -> str:
    text = text.strip()
    return (
        text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
    )
