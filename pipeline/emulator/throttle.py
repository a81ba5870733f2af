"""Error replies that tell the client to slow down or retry: 429s from the limits and injected faults.

429 RESOURCE_EXHAUSTED carries QuotaFailure (which limit), Help and RetryInfo (when the window
admits the request again); on the OpenAI-compatible routes also `retry-after`, `retry-after-ms`
and `x-ratelimit-*` headers, as OpenAI sends them.
"""

from __future__ import annotations

import math
from typing import Any

from . import faults
from .apierror import ApiError, fault
from .quotas import QUOTA_IDS, Quotas, Refusal

HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}


def quota_error(refusal: Refusal, model: str, flavour: str, quotas: Quotas) -> ApiError:
    """429 RESOURCE_EXHAUSTED with QuotaFailure, Help and RetryInfo (and OpenAI's headers)."""
    quota_id, metric = QUOTA_IDS[refusal.kind]
    wait = refusal.retry_after_s
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": str(refusal.limit),
                }
            ],
        },
        HELP,
        {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": duration(wait),
        },
    ]
    headers: dict[str, str] = {}
    message = faults_message_429(flavour, refusal, wait)
    if flavour in ("openai", "google-openai"):
        headers = rate_limit_headers(wait, quotas, refusal)
    return ApiError(
        429,
        message,
        details=details,
        headers=headers,
        openai_type="tokens" if refusal.kind == "tpm" else "requests",
    )


def faults_message_429(flavour: str, refusal: Refusal, wait: float) -> str:
    if flavour == "openai":
        unit = {
            "rpm": "requests per min (RPM)",
            "tpm": "tokens per min (TPM)",
            "rpd": "requests per day (RPD)",
        }[refusal.kind]
        return f"Rate limit reached on {unit}: Limit {refusal.limit}. Please try again in {wait:.3f}s."
    if flavour == "vertex":
        return "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
    return (
        "You exceeded your current quota, please check your plan and billing details. For more information on this "
        "error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
    )


def rate_limit_headers(
    wait: float, quotas: Quotas | None, refusal: Refusal | None
) -> dict[str, str]:
    headers = {
        "retry-after": str(max(1, math.ceil(wait))),
        "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
    }
    for kind, name in (("rpm", "requests"), ("tpm", "tokens")):
        spec = next((s for s in (quotas.specs if quotas else []) if s[0] == kind), None)
        if spec is None:
            continue
        remaining = (
            refusal.remaining_requests if kind == "rpm" else refusal.remaining_tokens
        )
        headers[f"x-ratelimit-limit-{name}"] = str(spec[1])
        headers[f"x-ratelimit-remaining-{name}"] = str(
            remaining if remaining is not None else 0
        )
        headers[f"x-ratelimit-reset-{name}"] = (
            f"{wait:.3f}s" if refusal and refusal.kind in (kind, "rpd") else "0s"
        )
    return headers


def duration(seconds: float) -> str:
    """A protobuf Duration as JSON writes it: "26s", "1.250s"."""
    if abs(seconds - round(seconds)) < 1e-9:
        return f"{round(seconds)}s"
    return f"{seconds:.3f}s"


def fault_error(decision: faults.Decision, flavour: str) -> ApiError:
    err = fault(decision.status or 500)
    if decision.status == 429:
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": QUOTA_IDS["rpm"][1],
                        "quotaId": QUOTA_IDS["rpm"][0],
                        "quotaValue": "0",
                    }
                ],
            },
            HELP,
        ]
        if decision.retry_s is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": duration(decision.retry_s),
                }
            )
            if flavour in ("openai", "google-openai"):
                err.headers = rate_limit_headers(decision.retry_s, None, None)
        err.details = details
    return err
