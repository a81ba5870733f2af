"""Vertex AI: the Gemini wire format (shared through `gemini_wire.py`) with Vertex URLs and bearer tokens.

Global endpoint (the one Gemini 3 previews need):
  https://aiplatform.googleapis.com/v1beta1/projects/{P}/locations/global/publishers/google/models/{M}:generateContent
Regional: the host becomes `{L}-aiplatform.googleapis.com`. A spec's `base_url` replaces scheme and host.
There is no Files API here (media goes inline; Vertex reads large files from Cloud Storage).
"""

from __future__ import annotations

from pipeline.records import HttpRequest, Prompt

from . import _gemini_wire as wire
from ._credentials import Credentials
from ._gemini import GoogleBase

__all__ = ("VertexProvider", "vertex_host")

API_VERSION = "v1beta1"


def vertex_host(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in ("us", "eu"):  # multi-region endpoints
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class VertexProvider(GoogleBase):
    """Vertex AI generateContent and countTokens, authenticated with `Authorization: Bearer <token>`.

    :param quota_project: sent as `x-goog-user-project` (the project billed), when it differs from `project`.
    """

    kind = "vertex"
    supports_files = False
    supports_count_tokens = True

    def __init__(
        self,
        *,
        model: str,
        credentials: Credentials,
        project: str,
        location: str = "global",
        base_url: str | None = None,
        quota_project: str | None = None,
    ) -> None:
        extra = {"x-goog-user-project": quota_project} if quota_project else None
        super().__init__(model=model, credentials=credentials, extra_headers=extra)
        host = (base_url or vertex_host(location)).rstrip("/")
        self._parent = f"projects/{project}/locations/{location}"
        self._root = f"{host}/{API_VERSION}"
        self._prefix = f"{host}/{API_VERSION}/projects/{project}/locations/{location}/publishers/google/models/"
        self._urls: dict[str, str] = {}

    tier_in_body = False  # Vertex documents only the header (a body serviceTier is ignored, or refused)

    def _tier_headers(self, tier: str, timeout_s: float | None) -> dict[str, str]:
        """Flex PayGo and Priority PayGo are asked for with `X-Vertex-AI-LLM-Shared-Request-Type`."""
        headers = super()._tier_headers(tier, timeout_s)
        headers["X-Vertex-AI-LLM-Shared-Request-Type"] = tier
        return headers

    def _caches_url(self) -> str:
        return f"{self._root}/{self._parent}/cachedContents"

    def _cache_url(self, name: str) -> str:
        """`name` is the full resource name (projects/P/locations/L/cachedContents/ID) or the bare ID."""
        return f"{self._caches_url()}/{name.rsplit('/', 1)[-1]}"

    def _cache_model(self, model: str) -> str:
        return f"{self._parent}/publishers/google/models/{model}"

    def _generate_url(self, model: str) -> str:
        url = self._urls.get(model)
        if url is None:
            url = self._urls[model] = f"{self._prefix}{model}:generateContent"
        return url

    def build_count_tokens(self, prompt: Prompt) -> HttpRequest:
        """Vertex's countTokens takes the request's fields at the top level (no `generateContentRequest`)."""
        full = wire.generate_body(prompt)
        body: dict[str, object] = {
            key: full[key]
            for key in ("contents", "systemInstruction", "tools")
            if key in full
        }
        url = f"{self._prefix}{self._model_of(prompt)}:countTokens"
        return HttpRequest("POST", url, self._headers(), wire.encode(body))
