"""Run-level errors as the service sends them: quota 429s in their 2026 shapes, Vertex's 429, and
the account errors that stop a whole run (billing or region not enabled, permission denied).

Bodies follow recorded replies (reference gemini-api.md section 4 and 2026-12 section 4):

- A quota 429 names its window in `QuotaFailure.violations[].quotaId` (`...PerMinute...` or
  `...PerDay...`), lists the exceeded metric in the message ("* Quota exceeded for metric: ...,
  limit: N, model: M" and "Please retry in 1h52m56.4s."), and carries Help and RetryInfo. A per-day
  quota resets at midnight America/Los_Angeles, so its retryDelay runs to the next Pacific midnight.
- The "Help-only" 429 (seen for Search grounding) has the quota message and a Help link, nothing more;
  the bare 429 has no details at all; the spend-cap 429 (billing account over its monthly cap) has
  its own message (quoted by third parties; its details are not recorded, so none are sent).
- Vertex words its 429 differently, sends no QuotaFailure or RetryInfo, and wraps the body in a list.
- 400 FAILED_PRECONDITION ("User location is not supported for the API use." / the free tier is
  not available in the caller's country) and 403 PERMISSION_DENIED (a leaked or suspended key, or
  no permission) carry recorded texts.
"""

from __future__ import annotations

from typing import Any

from .apierror import ERROR_INFO, ApiError
from .faults import ERROR_NAMES
from .quotas import QUOTA_IDS, pacific_now, seconds_to_pacific_midnight

__all__ = (
    "HELP",
    "QUOTA_MESSAGE",
    "VERTEX_429",
    "duration",
    "go_duration",
    "named",
    "quota_exceeded",
    "vertex_exhausted",
)

QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
VERTEX_429 = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)
BARE_429 = "Resource has been exhausted (e.g. check quota)."
SPEND_CAP = (
    "Your billing account has exceeded its monthly spending cap. Please go to AI Studio at "
    "https://aistudio.google.com to manage your billing. Learn more at "
    "https://ai.google.dev/gemini-api/docs/billing."
)
BILLING = (
    "Gemini API free tier is not available in your country. Please enable billing on your "
    "project in Google AI Studio."
)
LOCATION = "User location is not supported for the API use."
DENIED = "The caller does not have permission"
LEAKED = "Your API key was reported as leaked. Please use another API key."

NAMES = ERROR_NAMES  # error=NAME directives: the run-level errors a prompt can ask for


class ListWrappedError(ApiError):
    """An error whose body goes on the wire as `[{"error": {...}}]` (Vertex's 429s)."""

    in_list = True


def duration(seconds: float) -> str:
    """A protobuf Duration as JSON writes it: "26s", "1.250s"."""
    if abs(seconds - round(seconds)) < 1e-9:
        return f"{round(seconds)}s"
    return f"{seconds:.3f}s"


def go_duration(seconds: float) -> str:
    """A wait as the service's message writes it: "21.76s", "2m3.5s", "1h52m56.409s"."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs = f"{millis / 1000:.3f}".rstrip("0").rstrip(".")
    text = f"{secs}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return text


def quota_exceeded(
    kind: str, model: str, limit: int | None, retry_s: float | None
) -> ApiError:
    """429 RESOURCE_EXHAUSTED for the rpm, tpm or rpd quota: QuotaFailure naming the window, Help, and
    RetryInfo when `retry_s` is given; the 2026 message lists the metric and the wait."""
    quota_id, metric = QUOTA_IDS[kind]
    violation: dict[str, Any] = {"quotaMetric": metric, "quotaId": quota_id}
    if model:
        violation["quotaDimensions"] = {"location": "global", "model": model}
    violation["quotaValue"] = str(limit if limit is not None else 0)
    message = (
        f"{QUOTA_MESSAGE} To monitor your current usage, head to: https://ai.dev/rate-limit. \n"
        f"* Quota exceeded for metric: {metric}, limit: {limit or 0}"
        + (f", model: {model}" if model else "")
    )
    details: list[dict[str, Any]] = [
        {"@type": QUOTA_FAILURE, "violations": [violation]},
        HELP,
    ]
    if retry_s is not None:
        message += f"\nPlease retry in {go_duration(retry_s)}."
        details.append({"@type": RETRY_INFO, "retryDelay": duration(retry_s)})
    return ApiError(429, message, details=details)


def vertex_exhausted() -> ApiError:
    """Vertex's 429: its own message, no details (no QuotaFailure, no RetryInfo), in a list."""
    return ListWrappedError(429, VERTEX_429)


def until_pacific_midnight() -> float:
    return seconds_to_pacific_midnight(pacific_now())


def named(name: str, model: str, retry_s: float | None, retry_none: bool) -> ApiError:
    """The error an `error=NAME` directive asks for (Gemini API wording)."""
    if name == "quota_day":
        wait = (
            None
            if retry_none
            else (retry_s if retry_s is not None else until_pacific_midnight())
        )
        return quota_exceeded("rpd", model, 250, wait)
    if name == "help_only":
        return ApiError(429, QUOTA_MESSAGE, details=[HELP])
    if name == "exhausted":
        return ApiError(429, BARE_429)
    if name == "spend_cap":
        return ApiError(429, SPEND_CAP)
    if name in ("billing", "location"):
        return ApiError(
            400,
            BILLING if name == "billing" else LOCATION,
            status="FAILED_PRECONDITION",
        )
    if name == "leaked":
        return ApiError(403, LEAKED)
    if name == "suspended":
        return ApiError(
            403,
            "Permission denied: Consumer 'api_key:emulator' has been suspended.",
            details=[
                {
                    "@type": ERROR_INFO,
                    "reason": "CONSUMER_SUSPENDED",
                    "domain": "googleapis.com",
                    "metadata": {
                        "service": "generativelanguage.googleapis.com",
                        "consumer": "projects/0",
                    },
                }
            ],
        )
    return ApiError(403, DENIED)
