"""Shared helpers for provider tests: literal JSON fixtures, responses, and credentials that hold a known key."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pipeline.providers import StaticCredentials
from pipeline.records import HttpResponse

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "AIzaSy-test-key-0123456789"


@pytest.fixture
def fixture_json() -> Callable[[str], Any]:
    def load(name: str) -> Any:
        return json.loads((FIXTURES / name).read_text())

    return load


@pytest.fixture
def fixture_response() -> Callable[..., HttpResponse]:
    """An HttpResponse whose body is a fixture file's bytes, as a server would send them."""

    def make(
        name: str, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        return HttpResponse(status, dict(headers or {}), (FIXTURES / name).read_bytes())

    return make


@pytest.fixture
def respond() -> Callable[..., HttpResponse]:
    """respond(status, body, headers): body is bytes as sent, or a value to send as JSON."""

    def make(
        status: int, body: object = b"", headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return HttpResponse(status, dict(headers or {}), raw)

    return make


@pytest.fixture
def gemini_credentials() -> StaticCredentials:
    return StaticCredentials("GEMINI_API_KEY", "x-goog-api-key", SECRET)


@pytest.fixture
def bearer_credentials() -> StaticCredentials:
    return StaticCredentials("OPENAI_API_KEY", "authorization", SECRET, bearer=True)
