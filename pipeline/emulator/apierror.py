"""Errors the emulator answers with, and their three wire shapes.

One `ApiError` carries a Google status; it is rendered as
- Google's `{"error": {"code", "message", "status", "details"}}` on the Gemini and Vertex routes,
- the same wrapped in a list on the Google OpenAI-compatible routes (`/v1beta/openai/`),
- OpenAI's `{"error": {"message", "type", "param", "code"}}` on the aggregator routes (`/v1/`).
"""

from __future__ import annotations

from typing import Any

__all__ = (
    "BAD_REQUEST",
    "ERROR_INFO",
    "ApiError",
    "bad_key",
    "bad_value",
    "fault",
    "invalid",
    "model_not_found",
    "no_key",
    "unauthenticated",
    "unknown_field",
)

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

STATUS_OF_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# The texts the real service sends for the faults the emulator injects.
FAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    408: "Request timed out.",
    429: (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
    ),
    500: (
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"
    ),
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}

_OPENAI_TYPES = {
    400: ("invalid_request_error", "invalid_argument"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", "timeout"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "timeout"),
}


class ApiError(Exception):
    """An error reply: HTTP code, Google status, message and optional details and headers."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        param: str | None = None,
        openai_type: str | None = None,
        openai_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_OF_CODE.get(code, "UNKNOWN")
        self.details = details
        self.headers = headers or {}
        self.param = param
        self.openai_type = openai_type
        self.openai_code = openai_code

    def google_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def openai_body(self) -> dict[str, Any]:
        kind, code = _OPENAI_TYPES.get(self.code, ("api_error", "error"))
        return {
            "error": {
                "message": self.message,
                "type": self.openai_type or kind,
                "param": self.param,
                "code": self.openai_code or code,
            }
        }


def invalid(message: str, field: str | None = None) -> ApiError:
    """400 INVALID_ARGUMENT, with a BadRequest field violation when the field is known."""
    details = None
    if field is not None:
        details = [
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
    return ApiError(400, message, details=details, param=field)


def unknown_field(name: str, where: str) -> ApiError:
    at = f" at '{where}'" if where else ""
    message = (
        f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
    )
    return invalid(message, where or name)


def bad_value(where: str, type_name: str, value: Any) -> ApiError:
    return invalid(f"Invalid value at '{where}' ({type_name}), {_short(value)}", where)


def _short(value: Any) -> str:
    text = str(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 80 else text[:77] + "..."


def no_key() -> ApiError:
    return ApiError(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


def bad_key() -> ApiError:
    message = "API key not valid. Please pass a valid API key."
    return ApiError(
        400,
        message,
        details=[
            {
                "@type": ERROR_INFO,
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ],
    )


def unauthenticated(message: str | None = None) -> ApiError:
    return ApiError(
        401,
        message
        or "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential.",
        openai_code="invalid_api_key",
    )


def model_not_found(
    name: str, method: str = "generateContent", version: str = "v1beta"
) -> ApiError:
    return ApiError(
        404,
        f"models/{name} is not found for API version {version}, or is not supported for {method}. "
        "Call ModelService.ListModels to see the list of available models and their supported methods.",
        param="model",
    )


def fault(code: int) -> ApiError:
    return ApiError(code, FAULT_MESSAGES.get(code, "The emulator injected this error."))
