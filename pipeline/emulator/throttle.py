"""Error replies that tell the client to slow down or retry: 429s from the limits and injected faults.

429 RESOURCE_EXHAUSTED carries QuotaFailure (which limit), Help and RetryInfo (when the window
admits the request again), Vertex's 429 none of them (runerrors.py); on the OpenAI-compatible
routes also `retry-after`, `retry-after-ms` and `x-ratelimit-*` headers, as OpenAI sends them.
"""

from __future__ import annotations

import math

from . import faults, runerrors
from .apierror import ApiError, fault
from .quotas import Quotas, Refusal
from .runerrors import HELP, duration

__all__ = ("HELP", "duration", "fault_error", "quota_error", "rate_limit_headers")


def quota_error(refusal: Refusal, model: str, flavour: str, quotas: Quotas) -> ApiError:
    """429 from a server-side limit: Google's QuotaFailure, Help and RetryInfo (its 2026 message);
    Vertex's own list-wrapped body; OpenAI's message and headers on the compatible routes."""
    wait = refusal.retry_after_s
    if flavour == "vertex":
        return runerrors.vertex_exhausted()
    err = runerrors.quota_exceeded(refusal.kind, model, refusal.limit, wait)
    if flavour == "openai":
        err.message = faults_message_429(flavour, refusal, wait)
    if flavour in ("openai", "google-openai"):
        err.headers = rate_limit_headers(wait, quotas, refusal)
    err.openai_type = "tokens" if refusal.kind == "tpm" else "requests"
    return err


def faults_message_429(flavour: str, refusal: Refusal, wait: float) -> str:
    if flavour == "openai":
        unit = {
            "rpm": "requests per min (RPM)",
            "tpm": "tokens per min (TPM)",
            "rpd": "requests per day (RPD)",
        }[refusal.kind]
        return f"Rate limit reached on {unit}: Limit {refusal.limit}. Please try again in {wait:.3f}s."
    if flavour == "vertex":
        return runerrors.VERTEX_429
    return runerrors.QUOTA_MESSAGE


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
            None
            if refusal is None
            else refusal.remaining_requests
            if kind == "rpm"
            else refusal.remaining_tokens
        )
        headers[f"x-ratelimit-limit-{name}"] = str(spec[1])
        headers[f"x-ratelimit-remaining-{name}"] = str(
            remaining if remaining is not None else 0
        )
        headers[f"x-ratelimit-reset-{name}"] = (
            f"{wait:.3f}s" if refusal and refusal.kind in (kind, "rpd") else "0s"
        )
    return headers


def fault_error(decision: faults.Decision, flavour: str, model: str = "") -> ApiError:
    """The error a `fail=CODE` or `error=NAME` directive (or a random fault) asks for."""
    if decision.error:
        err = runerrors.named(
            decision.error, model, decision.retry_s, decision.retry_none
        )
    elif decision.status == 429:
        err = runerrors.quota_exceeded("rpm", model, 0, decision.retry_s)
    else:
        return fault(decision.status or 500)
    if err.code == 429 and flavour == "vertex":
        return runerrors.vertex_exhausted()
    retry = next(
        (d["retryDelay"] for d in err.details or [] if "retryDelay" in d), None
    )
    if retry is not None and flavour in ("openai", "google-openai"):
        err.headers = rate_limit_headers(float(retry[:-1]), None, None)
    return err
