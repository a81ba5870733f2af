"""What a provider needs from credentials: the protocol only; `_auth` implements it (and does the I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ("Credentials",)


class Credentials(Protocol):
    """What a provider needs to authenticate; `env_var` is the variable's NAME, for messages."""

    env_var: str

    def headers(self) -> Mapping[str, str]:
        """The current auth headers. The same object is returned until the credentials change."""
        ...

    def hint(self) -> str:
        """What to check when the provider refuses these credentials."""
        ...

    async def refresh_if_needed(self) -> None:
        """Renew a short-lived token before it expires; a no-op for API keys. Call it before building a request."""
        ...
