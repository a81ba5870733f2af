"""`pipeline estimate`: what a job would send and cost, found by reading every row and media file.

Nothing is sent unless `count_tokens` is asked for (then only countTokens requests, see `estimate_count.py`).
Rows are streamed through a bounded queue to a few workers, so memory stays flat however large the input: only
totals and the first `MAX_INVALID_SHOWN` invalid rows are kept. Each row goes through the checks a run makes
before it sends anything: the source's (JSON, id, prompt fields, generation overrides) and the media's (path
under media_dir, type, damage, the provider's and model's limits); `estimate_rows.py` does the media checks
and the per-row token range. Costs are priced row by row with `pricing.cost_usd`, so the 200k long-context
tier applies per request, as on the bill.

Usage::

    estimate = estimate_job(load_spec("jobs/summarise.toml"))
    print(render_estimate(estimate))
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from pipeline.catalog import Price, cost_usd, price_for
from pipeline.errors import PipelineError, RowInvalid, SpecError
from pipeline.input import iter_rows
from pipeline.input.media import MediaContext, MediaPlanner, media_limits
from pipeline.records import InvalidRow, Row, Usage
from pipeline.spec import JobSpec

from ._cache import CachePlan, cache_plan, cache_verdict, tier_range
from ._count import Counter, open_counter
from ._model import Estimate
from ._render import method_note, price_note, render
from ._rows import MODALITIES, RowPlan, plan_row, plan_text_row, with_media

__all__ = ("Estimate", "estimate_job", "render_estimate")

MAX_INVALID_SHOWN = 50
READ_BATCH = 512
LOCAL_WORKERS = 8  # probing hashes whole files: a few threads keep the disk busy


def estimate_job(
    spec: JobSpec,
    *,
    count_tokens: bool = False,
    environ: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> Estimate:
    """Read every row and media file of `spec` and estimate its tokens and cost.

    :param count_tokens: also ask the provider's countTokens for exact input counts (network; needs a key).
    :param environ: where keys are read from (default: os.environ); only used with `count_tokens`.
    :param base_url: send countTokens here instead of the spec's base_url (the emulator; "/v1" is appended for
        the openai kind), and accept a missing key as a run with `--emulator` does.
    :raises SpecError: the spec cannot run (e.g. an openai provider without base_url).
    :raises CredentialsError: `count_tokens` without the key the run would need.
    """
    env = dict(os.environ) if environ is None else environ
    return anyio.run(_estimate, spec, count_tokens, env, base_url)


@dataclass(slots=True)
class _Tally:
    """Running totals; workers add to it from one event loop thread, so no lock is needed."""

    price: Price | None
    prefix: CachePlan | None = (
        None  # [cache]: the shared prefix, cached or sent with each row
    )
    system: str | None = (
        None  # the spec's system instruction (a row with another one is not cached)
    )
    fallback: bool = False  # Flex rows may fall back to Standard
    rows: int = 0
    valid: int = 0
    # (-line, line, id, reason): a max-heap on line, so the first rows by line are the ones kept
    invalid: list[tuple[int, int, str, str]] = field(default_factory=list)
    media: dict[str, list[int]] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODALITIES, 0))
    exact: int = 0
    output_low: int = 0
    output_high: int = 0
    cost_low: float = 0.0
    cost_high: float = 0.0
    batch_low: float = 0.0
    batch_high: float = 0.0
    image_rows: int = 0

    def add_invalid(self, line: int, row_id: str, reason: str) -> None:
        self.rows += 1
        item = (-line, line, row_id, reason)
        if len(self.invalid) < MAX_INVALID_SHOWN:
            heapq.heappush(self.invalid, item)
        elif line < self.invalid[0][1]:
            heapq.heapreplace(self.invalid, item)

    def add_row(self, plan: RowPlan, input_tokens: int) -> None:
        """Count a valid row, priced at `input_tokens` (the local estimate, or the exact count)."""
        self.rows += 1
        self.valid += 1
        for media in plan.files:
            files_bytes = self.media.setdefault(media.kind, [0, 0])
            files_bytes[0] += 1
            files_bytes[1] += media.size
        for modality, count in plan.tokens.items():
            self.tokens[modality] += count
        self.exact += input_tokens
        low, high = plan.output_low, plan.output_high
        self.output_low += low.output_tokens + low.thinking_tokens
        self.output_high += high.output_tokens + high.thinking_tokens
        images = plan.images
        self.image_rows += 1 if images else 0
        extra, cached = self._prefix_for(plan.row)
        cheap, dear = tier_range(
            plan.prompt.generation.service_tier, fallback=self.fallback
        )
        inputs = (input_tokens + extra, cached, plan.tokens)
        self.cost_low += _priced(low, *inputs, self.price, images, cheap)
        self.cost_high += _priced(high, *inputs, self.price, images, dear)
        # The same rows through the Batch API: one price, whatever tier online would use.
        self.batch_low += _priced(
            low, *inputs, self.price, images, "standard", batch=True
        )
        self.batch_high += _priced(
            high, *inputs, self.price, images, "standard", batch=True
        )

    def _prefix_for(self, row: Row) -> tuple[int, int]:
        """(input tokens the shared prefix adds to the row's own estimate, of which cached)."""
        prefix = self.prefix
        if prefix is None:
            return 0, 0
        if prefix.enabled and (row.system is None or row.system == self.system):
            return prefix.tokens - prefix.system_tokens, prefix.tokens
        return prefix.file_tokens, 0  # the files go with the row


def _priced(
    output: Usage,
    input_tokens: int,
    cached_tokens: int,
    by_modality: Mapping[str, int],
    price: Price | None,
    images: int,
    tier: str,
    *,
    batch: bool = False,
) -> float:
    """The row's cost at `tier` (through the Batch API when `batch`); audio input at its own rate where the
    model has one."""
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output.output_tokens,
        thinking_tokens=output.thinking_tokens,
        cached_tokens=cached_tokens,
        image_output_tokens=output.image_output_tokens,
        input_by_modality=by_modality,
    )
    return cost_usd(usage, price, images=images, tier=tier, batch=batch) or 0.0


async def _estimate(
    spec: JobSpec, count_tokens: bool, environ: Mapping[str, str], base_url: str | None
) -> Estimate:
    price = price_for(spec.provider.model, spec.pricing.overrides())
    tally = _Tally(
        price,
        system=spec.prompt.system,
        fallback=spec.limits.flex_fallback_after_s is not None,
    )
    async with open_counter(spec, count_tokens, environ, base_url) as counter:
        # Built here rather than with media.media_context: a run uploads what cannot go inline, and an
        # estimate must not refuse those files only because it never uploads.
        planner = MediaPlanner(
            media_limits(spec.provider.kind, spec.provider.model, spec.media),
            supports_files=counter.supports_files,
            upload_threshold_bytes=spec.media.upload_threshold_bytes,
        )
        context = MediaContext(
            spec.input.media_dir, planner, None, spec.generation.media_resolution
        )
        try:
            tally.prefix = await cache_plan(spec, context)
        except RowInvalid as exc:
            raise SpecError(
                exc.reason, file=str(spec.path), key="cache.files"
            ) from None
        workers = spec.limits.concurrency if counter.active else LOCAL_WORKERS
        send, receive = anyio.create_memory_object_stream[Row](max(64, workers * 4))
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(_produce, spec, tally, counter, send)
                for _ in range(workers):
                    group.start_soon(
                        _work, spec, context, counter, tally, receive.clone()
                    )
                receive.close()
        except BaseExceptionGroup as errors:
            # A refused key or a bad spec surfaces as itself, for the CLI's exit code; bugs stay grouped.
            error = _pipeline_error(errors)
            if error is None:
                raise
            raise error from None
    invalid = sorted(tally.invalid, reverse=True)
    verdict = (
        None
        if tally.prefix is None
        else cache_verdict(tally.prefix, spec, price, tally.valid)
    )
    if verdict is not None and tally.prefix is not None and tally.prefix.enabled:
        tally.cost_low += verdict.fixed_usd  # creation, and storage for one TTL
        tally.cost_high += verdict.fixed_usd
    return Estimate(
        rows=tally.rows,
        valid_rows=tally.valid,
        invalid=[(line, row_id, why) for _, line, row_id, why in invalid],
        media_by_kind={
            kind: (n, size) for kind, (n, size) in sorted(tally.media.items())
        },
        input_tokens_by_modality=dict(tally.tokens),
        input_tokens_exact=tally.exact if counter.active else None,
        output_tokens_low=tally.output_low,
        output_tokens_high=tally.output_high,
        cost_low_usd=None if price is None else tally.cost_low,
        cost_high_usd=None if price is None else tally.cost_high,
        price_note=price_note(
            spec.provider.model,
            price,
            overridden=bool(spec.pricing.overrides()),
            budget=spec.limits.budget_usd is not None,
        ),
        method_note=" ".join(
            (
                method_note(tally.tokens, tally.image_rows, spec.provider.model),
                *counter.notes(),
            )
        ),
        job=spec.name,
        model=spec.provider.model,
        cache_note=None if verdict is None else verdict.note,
        cache_breakeven_rows=None if verdict is None else verdict.breakeven_rows,
        cache_saving_usd=None if verdict is None else verdict.saving_usd,
        batch_cost_low_usd=None if price is None else tally.batch_low,
        batch_cost_high_usd=None if price is None else tally.batch_high,
        mode=spec.mode,
    )


def _pipeline_error(errors: BaseExceptionGroup[BaseException]) -> PipelineError | None:
    """The first PipelineError in `errors`, however deeply grouped."""
    for error in errors.exceptions:
        if isinstance(error, PipelineError):
            return error
        if isinstance(error, BaseExceptionGroup):
            found = _pipeline_error(error)
            if found is not None:
                return found
    return None


def _next_batch(rows: Iterator[Row | InvalidRow]) -> list[Row | InvalidRow]:
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) >= READ_BATCH:
            break
    return batch


async def _produce(
    spec: JobSpec, tally: _Tally, counter: Counter, send: MemoryObjectSendStream[Row]
) -> None:
    """Read rows in a worker thread; rows with nothing to probe or count are tallied here, the rest go
    to the workers (a hop through the queue costs more than planning a text row)."""
    rows = iter_rows(spec)
    async with send:
        while batch := await anyio.to_thread.run_sync(_next_batch, rows):
            for item in batch:
                if isinstance(item, InvalidRow):
                    tally.add_invalid(item.line, item.id, item.reason)
                elif not item.media and not counter.active:
                    plan = plan_text_row(item, spec)
                    tally.add_row(plan, plan.input_tokens)
                else:
                    await send.send(item)


async def _work(
    spec: JobSpec,
    context: MediaContext,
    counter: Counter,
    tally: _Tally,
    receive: MemoryObjectReceiveStream[Row],
) -> None:
    async with receive:
        async for row in receive:
            try:
                plan = await plan_row(row, spec, context)
            except RowInvalid as exc:
                tally.add_invalid(row.line, row.id, exc.reason)
                continue
            exact = None
            if counter.active and plan.uploads:
                counter.skip_upload()
            elif counter.active:
                exact = await counter.count(await with_media(plan, spec))
            tally.add_row(plan, plan.input_tokens if exact is None else exact)


def render_estimate(estimate: Estimate) -> str:
    """The plain text `pipeline estimate` prints."""
    return render(estimate)
