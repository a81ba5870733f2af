"""Assembly: everything a session needs, built from the spec before anything is sent.

Every check that can refuse a job without sending (credentials, provider fields, a budget without a price, the
run directory and its spec) happens here, so a bad job stops with exit 2 and nothing paid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from pipeline.catalog import (
    DEFAULT_OUTPUT_LIMIT,
    Price,
    is_image_model,
    model_info,
    price_for,
)
from pipeline.errors import SpecError
from pipeline.input import build_prompt
from pipeline.input.media import MediaContext, build_media_parts, media_context
from pipeline.policy import Budget, Limits, RetryPolicy
from pipeline.providers import Credentials, Provider, make_provider, resolve_credentials
from pipeline.records import MediaRef, Prompt, Row
from pipeline.spec import JobSpec
from pipeline.store import RunJournal
from pipeline.transport import Transport

from ._attempts import AttemptLog
from ._cache import CACHE_META, RunCache
from ._options import RunOptions
from ._progress import RunStats
from ._row import RowRunner
from ._session import sent_today
from ._tiers import make_tiers

__all__ = ("Parts", "assemble", "make_runner")

# Variables the embedded emulator is given a stand-in key for, besides the ones the spec names.
EMULATOR_KEY_VARIABLES = ("GEMINI_API_KEY", "OPENAI_API_KEY", "VERTEX_ACCESS_TOKEN")


@dataclass(frozen=True, slots=True)
class Parts:
    """The pieces of a run that do not depend on its journal."""

    spec: JobSpec  # as sent: base_url pointed at the emulator when there is one
    credentials: Credentials
    provider: Provider
    price: Price | None
    max_output_tokens: int
    image_output: bool


def assemble(spec: JobSpec, options: RunOptions) -> Parts:
    """Credentials, provider and price; raises `SpecError` or `CredentialsError` when the job cannot start."""
    spec = _provider_spec(spec, options)
    credentials = resolve_credentials(spec.provider, _environ_for(options, spec))
    provider = make_provider(spec.provider, credentials)
    price = price_for(spec.provider.model, spec.pricing.overrides())
    if spec.limits.budget_usd is not None and price is None:
        raise SpecError(
            f"budget_usd needs a price, and there is none for model {spec.provider.model!r}: add a [pricing] "
            "table with input_per_million and output_per_million",
            file=str(spec.path),
            key="limits.budget_usd",
        )
    info = model_info(spec.provider.model)
    return Parts(
        spec=spec,
        credentials=credentials,
        provider=provider,
        price=price,
        max_output_tokens=info.output_token_limit if info else DEFAULT_OUTPUT_LIMIT,
        image_output=is_image_model(spec.provider.model),
    )


def make_runner(
    parts: Parts,
    options: RunOptions,
    journal: RunJournal,
    transport: Transport,
    stats: RunStats,
) -> tuple[RowRunner, MediaContext, RunCache | None]:
    """The row runner of one session, over `journal` (which must be open) and `transport`, and the run's
    context cache when `[cache] enabled` (open it before the rows)."""
    spec = parts.spec
    media = media_context(spec, parts.provider, transport.send, journal)
    policy = RetryPolicy(max_attempts=spec.limits.max_attempts)
    budget = Budget(
        spec.limits.budget_usd,
        journal.spent_usd() + _cache_spent(journal),
        permits=options.permits,
    )
    cache = None
    if spec.cache.enabled:
        cache = RunCache(
            spec,
            parts.provider,
            transport.send,
            journal,
            media,
            price=parts.price,
            budget=budget,
            policy=policy,
        )
    # Shared files open every prompt: in the cache, or (a row the cache does not apply to) sent with the row.
    shared = tuple(MediaRef(path) for path in spec.cache.files)

    async def prepare(row: Row) -> Prompt:
        cached = cache is not None and cache.applies_to(row)
        if shared and not cached:
            row = replace(row, media=shared + row.media)
        if not row.media:
            prompt = build_prompt(row, spec)
        else:
            media_parts, tokens = await build_media_parts(row, media)
            prompt = build_prompt(row, spec, media_parts, media_tokens=tokens)
        return await cache.attach(prompt) if cache is not None and cached else prompt

    def forget_files(names: tuple[str, ...], prompt: Prompt) -> bool:
        if cache is not None and not names and cache.forget(prompt.cached_content):
            return True  # the cache is gone (CacheGone names no file): the row makes it again
        if media.uploads is None:
            return False
        # A gone-file error that names no file: every uploaded file of the row is suspect.
        named = names or tuple(p.file_uri for p in prompt.parts if p.file_uri)
        return bool(media.uploads.forget_files(named))

    runner = RowRunner(
        provider=parts.provider,
        transport=transport,
        prepare=prepare,
        limits=Limits(
            requests_per_minute=spec.limits.requests_per_minute,
            tokens_per_minute=spec.limits.tokens_per_minute,
            requests_per_day=spec.limits.requests_per_day,
            sent_today=sent_today(journal),
            permits=options.permits,
        ),
        budget=budget,
        policy=policy,
        price=parts.price,
        stats=stats,
        run_dir=options.out_dir,
        keep_fields=spec.output.keep_fields,
        timeout_s=spec.limits.attempt_timeout_s(),
        flex_timeout_s=spec.limits.attempt_timeout_s("flex"),
        tiers=make_tiers(spec, stats),
        max_output_tokens=parts.max_output_tokens,
        image_output=parts.image_output,
        forget_files=forget_files,
        attempt_log=AttemptLog(journal.note_attempt),
    )
    # for `pipeline report`: the limits this session ran under (the journal's spec leaves them out)
    journal.save_meta("limits", _limits_meta(spec))
    return runner, media, cache


def _cache_spent(journal: RunJournal) -> float:
    """What earlier sessions' context caches cost (creation and storage), held against the budget too."""
    saved = journal.load_meta(CACHE_META)
    if not isinstance(saved, Mapping):
        return 0.0
    return sum(
        float(value)
        for key in ("creation_usd", "storage_usd")
        if isinstance(value := saved.get(key), int | float)
    )


def _environ_for(options: RunOptions, spec: JobSpec) -> Mapping[str, str]:
    """Against the embedded emulator no real key is needed: fill every key variable that is not set."""
    if options.base_url is None:
        return options.environ
    names = set(EMULATOR_KEY_VARIABLES)
    names.update(
        name for name in (spec.provider.api_key_env, spec.provider.token_env) if name
    )
    filler = {name: "emulator-key" for name in names if not options.environ.get(name)}
    return {**options.environ, **filler}


def _provider_spec(spec: JobSpec, options: RunOptions) -> JobSpec:
    if options.base_url is None:
        return spec
    base = options.base_url.rstrip("/")
    url = base + "/v1" if spec.provider.kind == "openai" else base
    return replace(spec, provider=replace(spec.provider, base_url=url))


def _limits_meta(spec: JobSpec) -> dict[str, object]:
    limits = spec.limits
    return {
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_minute": limits.tokens_per_minute,
        "requests_per_day": limits.requests_per_day,
        "concurrency": limits.concurrency,
        "budget_usd": limits.budget_usd,
        "model": spec.provider.model,
        "name": spec.name,
    }
