"""`pipeline estimate --count-tokens`: exact input counts from the provider's countTokens endpoint.

The same rules as a run: credentials come from the variable the spec names (a missing one stops with its
name), requests go through the job's rate limits (`Limits`, the spec's requests and tokens per minute) with at
most `concurrency` in flight, and 429s and 5xx are retried with the run's `RetryPolicy`. The daily request
limit is left out on purpose: countTokens has its own quota, and counting a large job must not fail on a limit
that only generateContent requests use up.

A row whose count cannot be had keeps its local estimate, and the notes say how many and why: its media would
go through the Files API (an estimate never uploads), or countTokens refused it. Providers without countTokens
(the OpenAI-compatible kind) keep the local estimate for every row, and the notes say so.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace

import anyio

from pipeline.errors import AttemptError, RateLimited
from pipeline.policy import Limits, RetryPolicy
from pipeline.providers import Provider, make_provider, resolve_credentials
from pipeline.records import Prompt
from pipeline.spec import JobSpec
from pipeline.transport import HttpTransport, Transport

__all__ = ("Counter", "open_counter")

# What `pipeline run --emulator` fills in for a missing key: the emulator accepts any key.
_EMULATOR_KEY_VARS = ("GEMINI_API_KEY", "OPENAI_API_KEY", "VERTEX_ACCESS_TOKEN")


class _NoCredentials:
    """Stands in for credentials when nothing is sent: a provider is built only to learn what it supports."""

    env_var = "(none)"

    def headers(self) -> Mapping[str, str]:
        return {}

    def hint(self) -> str:
        return "no credentials are used without --count-tokens"

    async def refresh_if_needed(self) -> None:
        return None


class Counter:
    """Counts one prompt's input tokens; `count` returns None when the local estimate has to do.

    :param provider: the provider the run would use (placeholder credentials when `active` is False).
    :param transport: where countTokens requests go; None when `active` is False.
    """

    def __init__(
        self,
        spec: JobSpec,
        provider: Provider,
        transport: Transport | None,
        *,
        asked: bool,
    ) -> None:
        self.provider = provider
        self.transport = transport
        self.asked = asked
        self.active = asked and transport is not None
        self.supports_files = provider.supports_files
        self.limits: Limits | None = None
        if self.active:
            self.limits = Limits(
                requests_per_minute=spec.limits.requests_per_minute,
                tokens_per_minute=spec.limits.tokens_per_minute,
                requests_per_day=None,
            )
        self.policy = RetryPolicy(max_attempts=spec.limits.max_attempts)
        self.timeout_s = spec.limits.attempt_timeout_s()
        self.counted = 0
        self.needs_upload = 0
        self.failed: Tally[str] = Tally()

    def skip_upload(self) -> None:
        """A row whose media would be uploaded: it keeps its local estimate."""
        self.needs_upload += 1

    async def count(self, prompt: Prompt) -> int | None:
        """The provider's count for `prompt` (media inline), or None when not active or it failed."""
        if not self.active:
            return None
        assert self.transport is not None and self.limits is not None
        request = replace(
            self.provider.build_count_tokens(prompt), timeout_s=self.timeout_s
        )
        attempts = 0
        while True:
            await self.limits.admit(prompt.estimated_input_tokens)
            attempts += 1
            try:
                response = await self.transport.send(request)
                tokens = self.provider.parse_count_tokens(response)
            except AttemptError as exc:
                if isinstance(exc, RateLimited):
                    self.limits.rate.on_rate_limited(exc.retry_after)
                decision = self.policy.decide(exc, attempts)
                if not decision.retry:
                    self.failed[exc.code] += 1
                    return None
                await anyio.sleep(decision.delay_s)
                continue
            self.limits.rate.on_accepted()
            self.counted += 1
            return tokens

    def notes(self) -> list[str]:
        """What the method note says about exact counts."""
        if not self.asked:
            return []
        if not self.active:
            kind = self.provider.kind
            unsupported = (
                f"--count-tokens: the {kind} provider has no countTokens endpoint, so the input tokens are "
                "the local estimate."
            )
            return [unsupported]
        counted = (
            f"--count-tokens: the provider's countTokens counted the input of {self.counted:,} rows exactly; "
            "the costs use those counts."
        )
        notes = [counted]
        if self.needs_upload:
            notes.append(
                f"{self.needs_upload:,} rows keep their local estimate: their media would go through the Files "
                "API, which an estimate does not use."
            )
        if self.failed:
            codes = ", ".join(f"{code} x{n}" for code, n in self.failed.most_common())
            notes.append(
                f"{sum(self.failed.values()):,} rows keep their local estimate: countTokens failed ({codes})."
            )
        return notes


@asynccontextmanager
async def open_counter(
    spec: JobSpec,
    count_tokens: bool,
    environ: Mapping[str, str],
    base_url: str | None,
) -> AsyncIterator[Counter]:
    """The counter for `spec`: a transport and real credentials only when countTokens will be used.

    :raises SpecError: the provider cannot be built from the spec (e.g. openai without base_url).
    :raises CredentialsError: counting needs a key that is not set.
    """
    spec = _pointed_at(spec, base_url)
    provider = make_provider(spec.provider, _NoCredentials())
    if not (count_tokens and provider.supports_count_tokens):
        yield Counter(spec, provider, None, asked=count_tokens)
        return
    if base_url is not None:
        environ = {
            **dict.fromkeys(_EMULATOR_KEY_VARS, "emulator-key"),
            **{name: value for name, value in environ.items() if value},
        }
    credentials = resolve_credentials(spec.provider, environ)
    provider = make_provider(spec.provider, credentials)
    async with HttpTransport(concurrency=spec.limits.concurrency) as transport:
        yield Counter(spec, provider, transport, asked=True)


def _pointed_at(spec: JobSpec, base_url: str | None) -> JobSpec:
    """`spec` sending to `base_url` (the emulator's root; the openai kind needs the "/v1" version path)."""
    if base_url is None:
        return spec
    url = base_url.rstrip("/")
    if spec.provider.kind == "openai":
        url += "/v1"
    return replace(spec, provider=replace(spec.provider, base_url=url))
