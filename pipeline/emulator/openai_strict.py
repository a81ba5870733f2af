"""Google's OpenAI-compatible layer (`/v1beta/openai/`) is strict where aggregators are lenient: a chat
request key that Google does not support is a 400, in Google's list-wrapped error shape.

Recorded (2026): a top-level `"google"` key (the openai SDK merges `extra_body={"google": ...}` into
the top level; Google expects `{"extra_body": {"google": ...}}`) answers
`[{"error": {"code": 400, "message": "Invalid JSON payload received. Unknown name \\"google\\": Cannot
find field.", "status": "INVALID_ARGUMENT", "details": [{"@type": "...BadRequest", "fieldViolations":
[{"description": ...}]}]}}]`. The supported keys are those Google's compatibility documentation
describes (reference 2026-12 section 9, gemini-api.md section 11, and the Vertex Chat Completions
parameter list). The images endpoint is documented to ignore unknown parameters, so it is not checked.
"""

from __future__ import annotations

from typing import Any

from .apierror import BAD_REQUEST, ApiError

__all__ = ("check_chat_keys",)

CHAT_KEYS = frozenset(
    {"model", "messages", "max_tokens", "max_completion_tokens", "n", "temperature", "top_p", "stop",
     "stream", "stream_options", "seed", "presence_penalty", "frequency_penalty", "response_format",
     "tools", "tool_choice", "reasoning_effort", "service_tier", "modalities", "extra_body"}
)  # fmt: skip
EXTRA_BODY_KEYS = frozenset({"google"})


def _unknown(name: str, where: str = "") -> str:
    at = f" at '{where}'" if where else ""
    return (
        f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
    )


def check_chat_keys(body: dict[str, Any]) -> None:
    """400 INVALID_ARGUMENT naming every key of `body` that Google's layer does not know."""
    messages = [_unknown(key) for key in body if key not in CHAT_KEYS]
    extra = body.get("extra_body")
    if isinstance(extra, dict):
        messages += [
            _unknown(key, "extra_body") for key in extra if key not in EXTRA_BODY_KEYS
        ]
    if messages:
        raise ApiError(
            400,
            "\n".join(messages),
            details=[
                {
                    "@type": BAD_REQUEST,
                    "fieldViolations": [{"description": m} for m in messages],
                }
            ],
        )
