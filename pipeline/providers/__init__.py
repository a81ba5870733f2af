"""Providers: one wire format each, chosen by the spec's `[provider] kind`, and the credentials they send.

A registry is a dict, not a plugin system: three formats are known and adding one is a line here. The wire
formats are pure translators; `_auth` is the one module here that reads the environment (and runs gcloud) to
make the `Credentials` they sign requests with.

Usage::

    credentials = resolve_credentials(spec.provider, os.environ)   # raises CredentialsError, naming the variable
    provider = make_provider(spec.provider, credentials)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from pipeline.errors import SpecError

from ._auth import GcloudCredentials, StaticCredentials, resolve_credentials
from ._base import Provider
from ._batch import TERMINAL_STATES, BatchLine, RemoteBatch
from ._caches import CachedContent
from ._credentials import Credentials
from ._gemini import GeminiProvider
from ._openai import OpenAIProvider
from ._vertex import VertexProvider

__all__ = (
    "PROVIDERS",
    "TERMINAL_STATES",
    "BatchLine",
    "CachedContent",
    "Credentials",
    "GcloudCredentials",
    "GeminiProvider",
    "OpenAIProvider",
    "Provider",
    "RemoteBatch",
    "StaticCredentials",
    "VertexProvider",
    "make_provider",
    "resolve_credentials",
)


class ProviderSpecLike(Protocol):
    """The fields of `spec.ProviderSpec` a provider is built from."""

    @property
    def kind(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def project(self) -> str | None: ...
    @property
    def location(self) -> str: ...
    @property
    def quota_project(self) -> str | None: ...
    @property
    def image_endpoint(self) -> str: ...


def _gemini(spec: ProviderSpecLike, credentials: Credentials) -> Provider:
    return GeminiProvider(
        model=spec.model, credentials=credentials, base_url=spec.base_url
    )


def _vertex(spec: ProviderSpecLike, credentials: Credentials) -> Provider:
    if not spec.project:
        raise SpecError(
            "the vertex provider needs a project: set [provider] project",
            key="provider.project",
        )
    return VertexProvider(
        model=spec.model,
        credentials=credentials,
        project=spec.project,
        location=spec.location or "global",
        base_url=spec.base_url,
        quota_project=spec.quota_project,
    )


def _openai(spec: ProviderSpecLike, credentials: Credentials) -> Provider:
    if not spec.base_url:
        raise SpecError(
            'the openai provider needs a base_url with the version path, e.g. "https://api.example.com/v1"',
            key="provider.base_url",
        )
    endpoint: Literal["chat", "images"] = (
        "images" if spec.image_endpoint == "images" else "chat"
    )
    return OpenAIProvider(
        model=spec.model,
        credentials=credentials,
        base_url=spec.base_url,
        image_endpoint=endpoint,
    )


PROVIDERS: dict[str, Callable[[ProviderSpecLike, Credentials], Provider]] = {
    "gemini": _gemini,
    "vertex": _vertex,
    "openai": _openai,
}


def make_provider(spec: ProviderSpecLike, credentials: Credentials) -> Provider:
    """The provider for `spec`. Raises `SpecError` for an unknown kind or a missing required field."""
    factory = PROVIDERS.get(spec.kind)
    if factory is None:
        raise SpecError(
            f"expected one of {', '.join(sorted(PROVIDERS))}, got {spec.kind!r}",
            key="provider.kind",
        )
    return factory(spec, credentials)
