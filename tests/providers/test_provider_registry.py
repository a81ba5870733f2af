"""make_provider: spec kind -> provider, and the spec mistakes it refuses."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from pipeline.errors import SpecError
from pipeline.providers import (
    GeminiProvider,
    OpenAIProvider,
    Provider,
    StaticCredentials,
    VertexProvider,
    make_provider,
)
from pipeline.spec._load import ProviderSpec

CREDENTIALS = StaticCredentials("K", "x-goog-api-key", "secret-123456")


def spec(kind: Any, **kwargs: Any) -> ProviderSpec:
    return ProviderSpec(kind=kind, model="gemini-3.1-pro-preview", **kwargs)


@pytest.mark.parametrize(
    ("provider_spec", "cls", "files", "count"),
    [
        (spec("gemini"), GeminiProvider, True, True),
        (spec("vertex", project="p"), VertexProvider, False, True),
        (spec("openai", base_url="http://h/v1"), OpenAIProvider, False, False),
    ],
)
def test_kinds(
    provider_spec: ProviderSpec, cls: type, files: bool, count: bool
) -> None:
    provider: Provider = make_provider(provider_spec, CREDENTIALS)
    assert isinstance(provider, cls)
    assert provider.kind == provider_spec.kind
    assert provider.model == "gemini-3.1-pro-preview"
    assert (provider.supports_files, provider.supports_count_tokens) == (files, count)


@pytest.mark.parametrize(
    ("provider_spec", "key"),
    [
        (spec("vertex"), "provider.project"),
        (spec("openai"), "provider.base_url"),
        (spec("anthropic"), "provider.kind"),
    ],
)
def test_refusals(provider_spec: ProviderSpec, key: str) -> None:
    with pytest.raises(SpecError) as caught:
        make_provider(provider_spec, CREDENTIALS)
    assert caught.value.key == key


@pytest.mark.parametrize(
    "module",
    ["pipeline.providers", "pipeline.transport"],
)  # fmt: skip
def test_public_surface(module: str) -> None:
    imported = importlib.import_module(module)
    assert isinstance(imported.__all__, tuple)
    missing = [name for name in imported.__all__ if not hasattr(imported, name)]
    assert not missing
