"""Service tiers and context caching in `pipeline estimate`.

Tiers: a row's cost range spans the tiers it may be served at: Flex 0.5x (Standard too, when it may fall back),
Priority 1x (a downgrade to Standard) to 2x, "auto" Flex to Standard.

Caching: the prefix every row shares (system instruction, tools, `[cache] files`) is read once at the input rate
to create the cache and stored per token-hour; each row that names the cache then reads it at the cached-input
rate instead of the input rate. It pays from the row where the savings pass the creation and storage: the
break-even row count. Storage is counted for one `ttl_s` (the run renews it while it goes on, so a longer run
stores it longer).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from pipeline.catalog import Price, model_info, storage_usd, tier_multiplier
from pipeline.input import estimate_text_tokens
from pipeline.input.media import MediaContext, probe_row
from pipeline.records import MediaRef, Row
from pipeline.spec import JobSpec

__all__ = ("CachePlan", "cache_plan", "cache_verdict", "tier_range")


def tier_range(tier: str | None, *, fallback: bool) -> tuple[str, str]:
    """The cheapest and the dearest tier a row asking for `tier` can be served (and priced) at."""
    if tier == "flex":
        return "flex", "standard" if fallback else "flex"
    if tier == "auto":
        return "flex", "standard"
    if tier == "priority":
        return "standard", "priority"
    return "standard", "standard"


@dataclass(frozen=True, slots=True)
class CachePlan:
    """The shared prefix: its estimated tokens (system instruction and tools; files), and whether it is cached."""

    system_tokens: int
    tools_tokens: int
    file_tokens: int
    files: int
    enabled: bool

    @property
    def tokens(self) -> int:
        return self.system_tokens + self.tools_tokens + self.file_tokens


async def cache_plan(spec: JobSpec, context: MediaContext) -> CachePlan | None:
    """The job's shared prefix when it has a `[cache]` to speak of (files, or enabled); None otherwise.
    The files are probed as a run would (a missing or damaged one raises RowInvalid)."""
    if not spec.cache.enabled and not spec.cache.files:
        return None
    file_tokens = 0
    if spec.cache.files:
        refs = tuple(MediaRef(path) for path in spec.cache.files)
        files = await probe_row(
            Row(id="[cache]", line=0, fields={}, prompt="", media=refs), context
        )
        file_tokens = sum(media.estimated_tokens for media in files)
    system = spec.prompt.system
    tools = spec.generation.tools
    return CachePlan(
        system_tokens=estimate_text_tokens(system) if system else 0,
        tools_tokens=estimate_text_tokens(json.dumps(list(tools))) if tools else 0,
        file_tokens=file_tokens,
        files=len(spec.cache.files),
        enabled=spec.cache.enabled,
    )


@dataclass(frozen=True, slots=True)
class CacheVerdict:
    """Whether caching the prefix pays for `rows` rows: the fixed cost, the saving per row, break-even."""

    note: str
    fixed_usd: float = (
        0.0  # creation plus storage for one TTL (0 when it cannot be cached)
    )
    breakeven_rows: int | None = None
    saving_usd: float | None = None  # on this job (negative: caching costs more)


def cache_verdict(
    plan: CachePlan, spec: JobSpec, price: Price | None, rows: int
) -> CacheVerdict:
    """What `pipeline estimate` says about caching `plan` for `rows` rows."""
    model = spec.provider.model
    what = _what(plan)
    info = model_info(model)
    if info is not None and info.explicit_cache is False:
        return CacheVerdict(
            f"{what}: {info.id} has no explicit context caching (implicit only)"
        )
    minimum = info.min_cache_tokens if info is not None else None
    if minimum is not None and plan.tokens < minimum:
        return CacheVerdict(
            f"{what}: too small to cache, {info.id if info else model} caches {minimum:,} tokens at least"
            + ("; a run refuses [cache] enabled = true" if plan.enabled else "")
        )
    if price is None:
        return CacheVerdict(f"{what}: no price for {model}, so no verdict")
    hours = spec.cache.ttl_s / 3600.0
    creation = plan.tokens * price.input / 1_000_000
    storage = storage_usd(price, tokens=plan.tokens, hours=hours) or 0.0
    fixed = creation + storage
    tier = spec.generation.service_tier
    factor = tier_multiplier(price, tier if tier in ("flex", "priority") else None)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    per_row = plan.tokens * (price.input - cached_rate) / 1_000_000 * factor
    if per_row <= 0:
        return CacheVerdict(f"{what}: the model has no cache discount", fixed)
    breakeven = math.ceil(fixed / per_row)
    saving = rows * per_row - fixed
    verdict = (
        f"pays from {breakeven:,} rows on: ${saving:,.4f} saved on this job's {rows:,} rows"
        if saving > 0
        else f"does not pay: it takes {breakeven:,} rows to, this job has {rows:,}"
    )
    state = (
        "cached ([cache] enabled)"
        if plan.enabled
        else "not cached ([cache] enabled = false)"
    )
    return CacheVerdict(
        f"{what}, {state}. Caching costs ${creation:,.4f} to create and ${storage:,.4f} to store for "
        f"ttl_s = {spec.cache.ttl_s:g} s, and saves ${per_row:,.6f} a row; it {verdict}",
        fixed,
        breakeven,
        saving,
    )


def _what(plan: CachePlan) -> str:
    pieces = [
        name
        for name, tokens in (
            ("system instruction", plan.system_tokens),
            ("tools", plan.tools_tokens),
        )
        if tokens
    ]
    if plan.files:
        pieces.append(f"{plan.files} file{'s' if plan.files != 1 else ''}")
    return (
        f"a shared prefix of ~{plan.tokens:,} tokens ({', '.join(pieces) or 'empty'})"
    )
