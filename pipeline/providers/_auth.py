"""Credentials: which environment variable holds the key, and the auth headers built from it.

A spec names a variable (`api_key_env`), never a key. `resolve_credentials` reads it once, before anything is
sent, and fails with the variable's name when it is missing. Credentials objects keep the secret out of their
`repr`, so a traceback or a debug print cannot leak it. Vertex access tokens come from a variable or from
`gcloud auth print-access-token`; gcloud tokens live 60 minutes and are refreshed 5 minutes before they expire.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import anyio

from pipeline.errors import CredentialsError

from ._credentials import Credentials

__all__ = (
    "GcloudCredentials",
    "StaticCredentials",
    "resolve_credentials",
)

GCLOUD_COMMAND = ("gcloud", "auth", "print-access-token")
TOKEN_LIFETIME_S = 60 * 60.0
REFRESH_MARGIN_S = 5 * 60.0
_NO_HEADERS: Mapping[str, str] = {}


class ProviderSpecLike(Protocol):
    """The fields of `spec.ProviderSpec` read here."""

    @property
    def kind(self) -> str: ...
    @property
    def api_key_env(self) -> str | None: ...
    @property
    def token_env(self) -> str | None: ...


class StaticCredentials:
    """A key or token read from an environment variable, sent as one header.

    :param env_var: the variable the value came from (named in messages).
    :param header: the header name, e.g. "x-goog-api-key" or "authorization".
    :param value: the secret.
    :param bearer: send "Bearer <value>" rather than the bare value.
    """

    __slots__ = ("_headers", "env_var")

    def __init__(
        self, env_var: str, header: str, value: str, *, bearer: bool = False
    ) -> None:
        self.env_var = env_var
        self._headers: Mapping[str, str] = {
            header: f"Bearer {value}" if bearer else value
        }

    def headers(self) -> Mapping[str, str]:
        return self._headers

    def hint(self) -> str:
        return f"check the value of {self.env_var}"

    async def refresh_if_needed(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(env_var={self.env_var!r}, value=<hidden>)"

    __str__ = __repr__


class GcloudCredentials:
    """Vertex access tokens from `gcloud auth print-access-token`, renewed before they expire.

    `refresh_if_needed()` runs gcloud without blocking the event loop. `headers()` runs it synchronously only
    when no token has been fetched yet (or the last one expired), so a caller that never refreshes still works.
    """

    __slots__ = ("_clock", "_command", "_expires_at", "_headers", "env_var")

    def __init__(
        self,
        env_var: str = "VERTEX_ACCESS_TOKEN",
        *,
        command: tuple[str, ...] = GCLOUD_COMMAND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env_var = env_var
        self._command = command
        self._clock = clock
        self._headers: Mapping[str, str] = _NO_HEADERS
        self._expires_at = 0.0

    def headers(self) -> Mapping[str, str]:
        if self._clock() >= self._expires_at:
            result = subprocess.run(self._command, capture_output=True, check=False)
            self._store(result.returncode, result.stdout, result.stderr)
        return self._headers

    def hint(self) -> str:
        return f"run `gcloud auth login` (or set {self.env_var} to an access token) and check the project"

    async def refresh_if_needed(self) -> None:
        if self._clock() < self._expires_at - REFRESH_MARGIN_S:
            return
        result = await anyio.run_process(self._command, check=False)
        self._store(result.returncode, result.stdout, result.stderr)

    def _store(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        token = stdout.decode("utf-8", errors="replace").strip()
        if returncode != 0 or not token:
            detail = stderr.decode("utf-8", errors="replace").strip().splitlines()
            raise CredentialsError(
                f"`{' '.join(self._command)}` failed ({detail[-1] if detail else f'exit {returncode}'}); "
                f"run `gcloud auth login`, or set {self.env_var} to an access token"
            )
        self._headers = {"authorization": f"Bearer {token}"}
        self._expires_at = self._clock() + TOKEN_LIFETIME_S

    def __repr__(self) -> str:
        return f"{type(self).__name__}(env_var={self.env_var!r}, token=<hidden>)"

    __str__ = __repr__


def resolve_credentials(
    spec: ProviderSpecLike, environ: Mapping[str, str]
) -> Credentials:
    """The credentials for `spec`, read from `environ`.

    :raises CredentialsError: when the variable is missing or empty, naming it and where the spec names it.
    """
    if spec.kind == "gemini":
        names = (
            (spec.api_key_env,)
            if spec.api_key_env
            else ("GEMINI_API_KEY", "GOOGLE_API_KEY")
        )
        name, value = _first_set(names, environ)
        if value is None:
            raise CredentialsError(
                f"set {_either(names)} to your API key; the spec's [provider] api_key_env names the variable"
            )
        return StaticCredentials(name, "x-goog-api-key", value)
    if spec.kind == "openai":
        names = (spec.api_key_env or "OPENAI_API_KEY",)
        name, value = _first_set(names, environ)
        if value is None:
            raise CredentialsError(
                f"set {names[0]} to your API key; the spec's [provider] api_key_env names the variable"
            )
        return StaticCredentials(name, "authorization", value, bearer=True)
    if spec.kind == "vertex":
        name = spec.token_env or "VERTEX_ACCESS_TOKEN"
        value = environ.get(name) or None
        if value is not None:
            return StaticCredentials(name, "authorization", value, bearer=True)
        gcloud = shutil.which("gcloud", path=environ.get("PATH"))
        if spec.token_env is None and gcloud is not None:
            # Run the gcloud that was found on the run's PATH, not whatever the process's PATH holds.
            return GcloudCredentials(name, command=(gcloud, *GCLOUD_COMMAND[1:]))
        raise CredentialsError(
            f"set {name} to an access token (`gcloud auth print-access-token` prints one), or install gcloud "
            "and run `gcloud auth login`; the spec's [provider] token_env names the variable"
        )
    raise CredentialsError(f"no credentials are known for provider kind {spec.kind!r}")


def _first_set(
    names: tuple[str, ...], environ: Mapping[str, str]
) -> tuple[str, str | None]:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return names[0], None


def _either(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} (or {', '.join(names[1:])})"
