"""`[cache] enabled`: one explicit context cache for the run, named by every row that shares its prefix.

Lifecycle: before the first row, the prefix (the system instruction, the tools and `[cache] files`) is built and
its size checked against the model's minimum (a `SpecError` when it is too small: nothing is sent). A cache this
run made earlier (journaled) is looked up again (GET) and reused when it still exists with the same content;
otherwise one is created with `ttl_s`. While the run goes on its TTL is renewed before half of it is left. At
the end it is deleted, unless `keep` (then it expires by its TTL); a run killed outright leaves it for the next
session to reuse. A cache that vanishes mid-run (a request answers CacheGone) is created again.

Money: creation is billed once, as the cache's tokens at the Standard input rate, and storage per token-hour
of the cache's life (until it is deleted, else until it expires). Both are run-level costs: journaled under the
meta key `CACHE_META` (what summary.json and `pipeline status` show) and held against the budget.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from pipeline.catalog import Price, model_info
from pipeline.errors import (
    AttemptError,
    CacheGone,
    RequestRejected,
    RowInvalid,
    SpecError,
)
from pipeline.input import estimate_text_tokens
from pipeline.input.media import MediaContext, build_media_parts
from pipeline.policy import Budget, RetryPolicy
from pipeline.providers import CachedContent, Provider
from pipeline.records import HttpRequest, HttpResponse, MediaRef, Part, Prompt, Row
from pipeline.spec import JobSpec
from pipeline.store import RunJournal

__all__ = ("CACHE_META", "RunCache")

CACHE_META = "cache"  # what summary.json shows (pipeline status reads the same key)
_STATE_META = "cache_state"  # every cache the run made, for reuse and for storage costs
_RENEW_FLOOR_S = 1.0

Send = Callable[[HttpRequest], Awaitable[HttpResponse]]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class RunCache:
    """The run's context cache; see the module docstring. `open()` it before the rows, `close()` it after."""

    def __init__(
        self,
        spec: JobSpec,
        provider: Provider,
        send: Send,
        journal: RunJournal,
        media: MediaContext,
        *,
        price: Price | None,
        budget: Budget,
        policy: RetryPolicy,
    ) -> None:
        self.spec = spec
        self.provider = provider
        self._send = send
        self.journal = journal
        self.media = media
        self.price = price
        self.budget = budget
        self.policy = policy
        self.name: str | None = None
        self.tokens = 0
        self.expire_at: datetime | None = None
        self._prefix: Prompt | None = None
        self._fingerprint = ""
        self._lock = anyio.Lock()
        state = journal.load_meta(_STATE_META)
        self._entries: list[dict[str, Any]] = (
            [dict(e) for e in state.get("entries", []) if isinstance(e, dict)]
            if isinstance(state, dict)
            else []
        )
        self._reused = 0
        self._reused_before = _meta_int(journal, "reused")

    # -- the rows' side --------------------------------------------------------------------------------------

    def applies_to(self, row: Row) -> bool:
        """Whether `row` can name the cache: it shares the cached system instruction (a row with a system
        instruction of its own is sent in full, shared files included)."""
        return row.system is None or row.system == self.spec.prompt.system

    async def attach(self, prompt: Prompt) -> Prompt:
        """`prompt` naming the cache (created again first if it was lost)."""
        name = await self.ensure()
        own = estimate_text_tokens(prompt.system) if prompt.system else 0
        return replace(
            prompt,
            cached_content=name,
            estimated_input_tokens=prompt.estimated_input_tokens - own + self.tokens,
        )

    def forget(self, name: str | None) -> bool:
        """A request naming `name` was told the cache is gone: the next row creates it again. True when the
        row should be prepared again (it named a cache)."""
        if name is None:
            return False
        if name == self.name:
            self._ended(datetime.now(UTC), gone=True)
            self.name = None
        return True

    async def ensure(self) -> str:
        if self.name is None:
            async with self._lock:
                if self.name is None:
                    await self._create()
        assert self.name is not None
        return self.name

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Build the prefix, check its size, then reuse the journaled cache or create one."""
        prefix, estimate = await self._build_prefix()
        self._check_size(estimate)
        self._prefix = prefix
        self._fingerprint = _fingerprint(
            self.provider.build_create_cache(prefix, ttl_s=0, display_name="")
        )
        last = self._entries[-1] if self._entries else None
        if (
            last is not None
            and last.get("ended_at") is None
            and last.get("fingerprint") == self._fingerprint
        ):
            try:
                found = await self._call(self.provider.build_get_cache(last["name"]))
            except CacheGone:
                gone_at = min(
                    _parse(last.get("expire_at")) or datetime.now(UTC),
                    datetime.now(UTC),
                )
                self._ended(gone_at, entry=last)
            else:
                self._adopt(found, last)
                self._reused += 1
                await self.renew_once()
        if self.name is None:
            await self._create()
        self._save()

    async def renew_forever(self) -> None:
        """Renew the TTL whenever less than half of it is left; run in a task, cancelled at the end."""
        ttl = self.spec.cache.ttl_s
        while True:
            wait = ttl / 2
            if self.expire_at is not None:
                left = (self.expire_at - datetime.now(UTC)).total_seconds()
                wait = left - ttl / 2
            await anyio.sleep(max(_RENEW_FLOOR_S, wait))
            try:
                await self.renew_once()
            except CacheGone:
                self.forget(self.name)
            except AttemptError:
                pass  # tried again on the next turn; the cache has half its TTL left

    async def renew_once(self) -> None:
        name = self.name
        if name is None:
            return
        found = await self._call(
            self.provider.build_update_cache(name, ttl_s=self.spec.cache.ttl_s)
        )
        if self.name == name:
            self.expire_at = found.expire_at or datetime.now(UTC) + timedelta(
                seconds=self.spec.cache.ttl_s
            )
            self._entries[-1]["expire_at"] = _iso(self.expire_at)
            self._save()

    async def close(self) -> None:
        """Delete the cache unless `keep`; journal what it cost. Shielded: runs after a Ctrl+C too."""
        with anyio.CancelScope(shield=True):
            if self.name is not None and not self.spec.cache.keep:
                try:
                    await self._call(self.provider.build_delete_cache(self.name))
                except CacheGone:
                    pass
                except AttemptError:
                    self._save()  # left to expire by its TTL; storage is counted until then
                    return
                self._ended(datetime.now(UTC))
                self.name = None
            self._save()

    # -- internals -------------------------------------------------------------------------------------------

    async def _build_prefix(self) -> tuple[Prompt, int]:
        spec = self.spec
        refs = tuple(MediaRef(path) for path in spec.cache.files)
        parts: tuple[Part, ...] = ()
        tokens = 0
        if refs:
            row = Row(id="[cache]", line=0, fields={}, prompt="", media=refs)
            try:
                parts, tokens = await build_media_parts(row, self.media)
            except RowInvalid as exc:
                raise SpecError(
                    exc.reason, file=str(spec.path), key="cache.files"
                ) from None
        prefix = Prompt(
            row_id="[cache]",
            model=spec.provider.model,
            parts=parts,
            generation=spec.generation,
            system=spec.prompt.system,
        )
        if spec.prompt.system:
            tokens += estimate_text_tokens(spec.prompt.system)
        if spec.generation.tools:
            tokens += estimate_text_tokens(json.dumps(list(spec.generation.tools)))
        return prefix, tokens

    def _check_size(self, estimate: int) -> None:
        spec = self.spec
        info = model_info(spec.provider.model)
        if info is None:
            return  # a model the catalog does not know: its server is the judge
        if info.explicit_cache is False:
            raise SpecError(
                f"{info.id} has no explicit context caching (implicit caching only); set enabled = false",
                file=str(spec.path),
                key="cache.enabled",
            )
        minimum = info.min_cache_tokens
        if minimum is not None and estimate < minimum:
            raise SpecError(
                f"the cache would hold about {estimate:,} tokens (system instruction, tools and "
                f"{len(spec.cache.files)} files), below the {minimum:,} tokens {info.id} caches at least; "
                "add shared files, or set enabled = false",
                file=str(spec.path),
                key="cache",
            )

    async def _create(self) -> None:
        assert self._prefix is not None
        request = self.provider.build_create_cache(
            self._prefix,
            ttl_s=self.spec.cache.ttl_s,
            display_name=f"pipeline {self.spec.name}",
        )
        try:
            found = await self._call(request)
        except RequestRejected as exc:
            if isinstance(exc, CacheGone):
                raise
            raise SpecError(
                f"the provider would not create the context cache: {exc}",
                file=str(self.spec.path),
                key="cache",
            ) from None
        entry: dict[str, Any] = {
            "name": found.name,
            "tokens": found.tokens,
            "created_at": _iso(datetime.now(UTC)),
            "ended_at": None,
            "fingerprint": self._fingerprint,
            "creation_usd": self._creation_usd(found.tokens),
            "storage_per_hour_usd": self._storage_per_hour(found.tokens),
        }
        self._entries.append(entry)
        self._adopt(found, entry)
        self.budget.spent += entry["creation_usd"]
        self._save()

    def _adopt(self, found: CachedContent, entry: dict[str, Any]) -> None:
        self.name = found.name
        self.tokens = found.tokens or int(entry.get("tokens") or 0)
        self.expire_at = found.expire_at or datetime.now(UTC) + timedelta(
            seconds=self.spec.cache.ttl_s
        )
        entry["expire_at"] = _iso(self.expire_at)

    def _ended(
        self, when: datetime, *, entry: dict[str, Any] | None = None, gone: bool = False
    ) -> None:
        entry = (
            entry
            if entry is not None
            else (self._entries[-1] if self._entries else None)
        )
        if entry is None or entry.get("ended_at") is not None:
            return
        expire = _parse(entry.get("expire_at"))
        end = min(when, expire) if expire is not None else when
        entry["ended_at"] = _iso(end)
        if gone:
            entry["gone"] = True
        self._save()

    def _creation_usd(self, tokens: int) -> float:
        if self.price is None:
            return 0.0
        return tokens * self.price.input / 1_000_000

    def _storage_per_hour(self, tokens: int) -> float:
        rate = None if self.price is None else self.price.cache_storage_per_hour
        return 0.0 if rate is None else tokens / 1_000_000 * rate

    async def _call(self, request: HttpRequest) -> CachedContent:
        """One cache request, retried as the rows' requests are; a delete answers an empty resource."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send(request)
                if request.method == "DELETE" and 200 <= response.status < 300:
                    return CachedContent("", 0)  # a delete answers {}
                return self.provider.parse_cache(response)
            except AttemptError as exc:
                decision = self.policy.decide(exc, attempt)
                if not decision.retry:
                    raise
                await anyio.sleep(decision.delay_s)

    def _save(self) -> None:
        self.journal.save_meta(_STATE_META, {"entries": self._entries})
        self.journal.save_meta(CACHE_META, self.summary())

    def summary(self) -> dict[str, object]:
        """The cache section of summary.json: every cache this run made, and what they cost."""
        now = datetime.now(UTC)
        creation = storage = 0.0
        token_hours = 0.0
        for entry in self._entries:
            creation += float(entry.get("creation_usd") or 0.0)
            start = _parse(entry.get("created_at"))
            end = _parse(entry.get("ended_at")) or _parse(entry.get("expire_at")) or now
            if start is None:
                continue
            hours = max(0.0, (end - start).total_seconds()) / 3600.0
            storage += hours * float(entry.get("storage_per_hour_usd") or 0.0)
            token_hours += hours * int(entry.get("tokens") or 0)
        last = self._entries[-1] if self._entries else {}
        alive = bool(last) and last.get("ended_at") is None
        return {
            "name": last.get("name"),
            "model": self.spec.provider.model,
            "tokens": int(last.get("tokens") or 0),
            "created": len(self._entries),
            "reused": self._reused_before + self._reused,
            "state": ("kept" if self.spec.cache.keep else "alive")
            if alive
            else "deleted",
            "expire_at": last.get("expire_at") if alive else None,
            "storage_token_hours": round(token_hours, 6),
            "creation_usd": round(creation, 9),
            "storage_usd": round(storage, 9),
        }


def _meta_int(journal: RunJournal, key: str) -> int:
    saved = journal.load_meta(CACHE_META)
    value = saved.get(key) if isinstance(saved, dict) else None
    return value if isinstance(value, int) else 0


def _fingerprint(request: HttpRequest) -> str:
    """The cache's content: the create body without its TTL and display name."""
    body = request.body if isinstance(request.body, bytes) else b""
    try:
        doc = json.loads(body)
    except ValueError:
        return hashlib.sha256(body).hexdigest()
    for key in ("ttl", "displayName"):
        doc.pop(key, None)
    return hashlib.sha256(
        json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
