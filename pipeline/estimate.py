"""`pipeline estimate`: what a job would send and cost, found by reading every row and media file.

Nothing is sent unless `count_tokens` is asked for. Rows are streamed (a bounded queue feeds a few workers), so
memory stays flat however large the input: only totals and the first `MAX_INVALID_SHOWN` invalid rows are kept.
Each row goes through the checks a run makes before it sends anything: the source's (JSON, id, prompt fields,
generation overrides) and the media's (path under media_dir, type, damage, the provider's and model's limits).

Input tokens are estimated the way `media_probe` and the emulator count them (see `METHOD`). The cost range is
priced per row with `pricing.cost_usd`, so the 200k long-context tier applies row by row as it does on the bill:

- low end, a *typical* reply: 100 text tokens (a short answer or a small JSON object) plus thinking at the low
  end of what its level produces (`TYPICAL_THINKING`), and one image for image models;
- high end: `max_output_tokens` (the row's, the spec's, else the model's output limit) for every row, thinking
  included as the service counts it, plus one image at its size's image tokens.

With `count_tokens`, `estimate_count.py` asks the provider's countTokens endpoint for each valid row.

Usage::

    estimate = estimate_job(load_spec("jobs/summarise.toml"))
    print(render_estimate(estimate))
"""

from __future__ import annotations

import heapq
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from pipeline.catalog import model_info
from pipeline.engine import DEFAULT_OUTPUT_LIMIT, pricing_override
from pipeline.errors import RowInvalid
from pipeline.estimate_count import Counter, open_counter
from pipeline.estimate_render import render
from pipeline.media import (
    MediaContext,
    MediaFile,
    MediaPlanner,
    media_limits,
    probe_row,
)
from pipeline.media_probe import AUDIO_TOKENS_PER_S, UNKNOWN_VIDEO_BYTES_PER_S
from pipeline.pricing import PRICES_AS_OF, Price, cost_usd, price_for
from pipeline.prompt import build_prompt, estimate_text_tokens
from pipeline.records import InvalidRow, Part, Prompt, Row, Usage
from pipeline.source import iter_rows
from pipeline.spec import JobSpec

__all__ = ("Estimate", "estimate_job", "render_estimate")

MAX_INVALID_SHOWN = 50
READ_BATCH = 512
LOCAL_WORKERS = 8  # probing hashes whole files: a few threads keep the disk busy
MODALITIES = ("text", "image", "audio", "video", "document")
TYPICAL_TEXT_TOKENS = 100
# The low end of what each thinking level spends on an ordinary request (Gemini 3 docs: levels are maximums,
# "minimal" is about none). Real low-level replies think for a few hundred tokens; these stay under that.
TYPICAL_THINKING = {"minimal": 0, "low": 128, "medium": 512, "high": 1_024}
# Image models take no thinking level: Pro Image always thinks (174 tokens in a recorded reply), Flash Image
# thinks minimally unless asked.
IMAGE_MODEL_THINKING = {
    "gemini-3-pro-image-preview": 128,
    "gemini-3-pro-image": 128,
    "gemini-3.1-flash-image-preview": 0,
    "gemini-3.1-flash-image": 0,
}
# Output tokens of one generated image by size (reference section 6): Pro Image and Flash Image differ.
PRO_IMAGE_TOKENS = {"1K": 1_120, "2K": 1_120, "4K": 2_000}
FLASH_IMAGE_TOKENS = {"512": 747, "1K": 1_120, "2K": 1_680, "4K": 2_520}
_INPUT_RULES = {
    "image": "images 1,120 tokens each (560 at medium, 280 at low media resolution)",
    "document": "PDFs 560 per page",
    "audio": "audio 32 per second",
    "video": "video 70 per second (280 at high media resolution) plus 32 per second of sound",
}


@dataclass(frozen=True, slots=True)
class Estimate:
    """What `pipeline estimate` reports. Token and cost figures cover the valid rows only."""

    rows: int
    valid_rows: int
    invalid: list[
        tuple[int, str, str]
    ]  # (line, id, reason), the first MAX_INVALID_SHOWN by line
    media_by_kind: dict[str, tuple[int, int]]  # kind -> (file references, bytes)
    input_tokens_by_modality: dict[str, int]  # text, image, audio, video, document
    input_tokens_exact: int | None  # from countTokens when asked
    output_tokens_low: int
    output_tokens_high: int  # summed over rows, thinking and image tokens included
    cost_low_usd: float | None
    cost_high_usd: float | None  # None when the model has no price
    price_note: str
    method_note: str
    job: str = ""
    model: str = ""

    @property
    def invalid_rows(self) -> int:
        return self.rows - self.valid_rows

    @property
    def input_tokens(self) -> int:
        return sum(self.input_tokens_by_modality.values())


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


@dataclass(frozen=True, slots=True)
class _RowPlan:
    """One valid row: its local input estimate, its output range, and its prompt (text only)."""

    row: Row
    prompt: Prompt
    files: tuple[MediaFile, ...]
    uploads: bool  # a file would go through the Files API: countTokens cannot see it without an upload
    tokens: dict[str, int]
    output_low: Usage  # thinking and image tokens separated out, as cost_usd wants them
    output_high: Usage
    images: int


@dataclass(slots=True)
class _Tally:
    """Running totals; workers add to it from one event loop thread, so no lock is needed."""

    price: Price | None
    rows: int = 0
    valid: int = 0
    invalid: list[tuple[int, int, str, str]] = field(
        default_factory=list
    )  # max-heap on line
    media: dict[str, list[int]] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODALITIES, 0))
    exact: int = 0
    output_low: int = 0
    output_high: int = 0
    cost_low: float = 0.0
    cost_high: float = 0.0
    image_rows: int = 0

    def add_invalid(self, line: int, row_id: str, reason: str) -> None:
        self.rows += 1
        item = (-line, line, row_id, reason)
        if len(self.invalid) < MAX_INVALID_SHOWN:
            heapq.heappush(self.invalid, item)
        elif line < self.invalid[0][1]:
            heapq.heapreplace(self.invalid, item)

    def add_row(self, plan: _RowPlan, input_tokens: int) -> None:
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
        self.cost_low += _priced(low, input_tokens, self.price, images)
        self.cost_high += _priced(high, input_tokens, self.price, images)


def _priced(
    output: Usage, input_tokens: int, price: Price | None, images: int
) -> float:
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output.output_tokens,
        thinking_tokens=output.thinking_tokens,
        image_output_tokens=output.image_output_tokens,
    )
    return cost_usd(usage, price, images=images) or 0.0


async def _estimate(
    spec: JobSpec, count_tokens: bool, environ: Mapping[str, str], base_url: str | None
) -> Estimate:
    price = price_for(spec.provider.model, pricing_override(spec.pricing))
    tally = _Tally(price)
    async with open_counter(spec, count_tokens, environ, base_url) as counter:
        planner = MediaPlanner(
            media_limits(spec.provider.kind, spec.provider.model, spec.media),
            supports_files=counter.supports_files,
            upload_threshold_bytes=spec.media.upload_threshold_bytes,
        )
        context = MediaContext(
            spec.input.media_dir, planner, None, spec.generation.media_resolution
        )
        workers = spec.limits.concurrency if counter.active else LOCAL_WORKERS
        send, receive = anyio.create_memory_object_stream[Row](max(64, workers * 4))
        async with anyio.create_task_group() as group:
            group.start_soon(_produce, spec, tally, send)
            for _ in range(workers):
                group.start_soon(_work, spec, context, counter, tally, receive.clone())
            receive.close()
        notes = counter.notes()
        exact = tally.exact if counter.active else None
    return Estimate(
        rows=tally.rows,
        valid_rows=tally.valid,
        invalid=[
            (line, row_id, why)
            for _, line, row_id, why in sorted(tally.invalid, reverse=True)
        ],
        media_by_kind={
            kind: (n, size) for kind, (n, size) in sorted(tally.media.items())
        },
        input_tokens_by_modality=dict(tally.tokens),
        input_tokens_exact=exact,
        output_tokens_low=tally.output_low,
        output_tokens_high=tally.output_high,
        cost_low_usd=None if price is None else tally.cost_low,
        cost_high_usd=None if price is None else tally.cost_high,
        price_note=_price_note(spec, price),
        method_note=" ".join((_method_note(tally), *notes)),
        job=spec.name,
        model=spec.provider.model,
    )


def _next_batch(rows: Any) -> list[Row | InvalidRow]:
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) >= READ_BATCH:
            break
    return batch


async def _produce(
    spec: JobSpec, tally: _Tally, send: MemoryObjectSendStream[Row]
) -> None:
    rows = iter_rows(spec)
    async with send:
        while batch := await anyio.to_thread.run_sync(_next_batch, rows):
            for item in batch:
                if isinstance(item, InvalidRow):
                    tally.add_invalid(item.line, item.id, item.reason)
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
                plan = await _plan(row, spec, context)
            except RowInvalid as exc:
                tally.add_invalid(row.line, row.id, exc.reason)
                continue
            exact = None
            if counter.active and plan.uploads:
                counter.skip_upload()
            elif counter.active:
                exact = await counter.count(await _with_media(plan, spec))
            local = sum(plan.tokens.values())
            tally.add_row(plan, local if exact is None else exact)


async def _plan(row: Row, spec: JobSpec, context: MediaContext) -> _RowPlan:
    """The checks a run makes before sending `row` (RowInvalid when one fails), and its token estimates."""
    resolution = row.generation.get("media_resolution") or context.media_resolution
    resolution = resolution if isinstance(resolution, str) else None
    files: tuple[MediaFile, ...] = ()
    uploads = False
    if row.media:
        files = tuple(await probe_row(row, context, resolution))
        placements = context.planner.plan(
            files, media_resolution=resolution, text_bytes=len(row.prompt.encode())
        )
        uploads = "upload" in placements
    media_tokens = sum(media.estimated_tokens for media in files)
    prompt = build_prompt(row, spec, media_tokens=media_tokens)
    tokens = _by_modality(prompt, files)
    low, high, images = _output_range(spec, prompt)
    return _RowPlan(row, prompt, files, uploads, tokens, low, high, images)


async def _with_media(plan: _RowPlan, spec: JobSpec) -> Prompt:
    """The row's prompt with its media inline, as countTokens needs it; the bytes live until it is counted."""
    parts = []
    for media in plan.files:
        data = await anyio.to_thread.run_sync(media.path.read_bytes)
        parts.append(
            Part(data=data, mime_type=media.mime_type, source_path=media.ref_path)
        )
    media_tokens = sum(media.estimated_tokens for media in plan.files)
    return build_prompt(plan.row, spec, parts, media_tokens=media_tokens)


def _by_modality(prompt: Prompt, files: tuple[MediaFile, ...]) -> dict[str, int]:
    """Split the row's estimate as Gemini's promptTokensDetails does (a video's sound counts as audio).

    Function declarations are sent with every request and count as text, as their JSON.
    """
    tokens = dict.fromkeys(MODALITIES, 0)
    tokens["text"] = prompt.estimated_input_tokens - sum(
        m.estimated_tokens for m in files
    )
    tokens["text"] += sum(_tool_tokens(tool) for tool in prompt.generation.tools)
    for media in files:
        if media.kind == "video":
            seconds = media.duration_s
            if seconds is None:
                seconds = media.size / UNKNOWN_VIDEO_BYTES_PER_S
            sound = min(media.estimated_tokens, math.ceil(seconds) * AUDIO_TOKENS_PER_S)
            tokens["audio"] += sound
            tokens["video"] += media.estimated_tokens - sound
        else:
            modality = {"pdf": "document"}.get(media.kind, media.kind)
            tokens[modality] += media.estimated_tokens
    return tokens


def _tool_tokens(tool: Mapping[str, Any]) -> int:
    return estimate_text_tokens(json.dumps(tool, separators=(",", ":"), default=str))


def _output_range(spec: JobSpec, prompt: Prompt) -> tuple[Usage, Usage, int]:
    """(typical output, largest output, images per reply) for one row, with its own generation settings."""
    generation = prompt.generation
    info = model_info(spec.provider.model)
    limit = info.output_token_limit if info is not None else DEFAULT_OUTPUT_LIMIT
    max_out = generation.max_output_tokens or limit
    modalities = generation.response_modalities
    makes_images = "IMAGE" in modalities or (
        not modalities and info is not None and info.image_output
    )
    image_tokens = (
        _image_tokens(spec.provider.model, generation.image_size) if makes_images else 0
    )
    text = (
        0
        if makes_images and modalities and "TEXT" not in modalities
        else TYPICAL_TEXT_TOKENS
    )
    level = generation.thinking_level or (info.default_thinking_level if info else None)
    if level is not None:
        thinking = TYPICAL_THINKING.get(level, 0)
    else:
        thinking = IMAGE_MODEL_THINKING.get(
            spec.provider.model.removeprefix("models/"), 0
        )
    # Thinking counts against max_output_tokens; a reply cannot be longer than the limit.
    thinking = min(thinking, max_out)
    text = min(text, max_out - thinking)
    low = Usage(
        output_tokens=text + image_tokens,
        thinking_tokens=thinking,
        image_output_tokens=image_tokens,
    )
    high = Usage(output_tokens=max_out + image_tokens, image_output_tokens=image_tokens)
    return low, high, 1 if makes_images else 0


def _image_tokens(model: str, size: str | None) -> int:
    table = PRO_IMAGE_TOKENS if "pro-image" in model else FLASH_IMAGE_TOKENS
    return table.get(size or "1K", max(table.values()))


def _method_note(tally: _Tally) -> str:
    """How the figures were made, naming only the rules that this job's rows used."""
    rules = ["text (prompt, system, text files, function declarations) characters / 4"]
    rules += [rule for modality, rule in _INPUT_RULES.items() if tally.tokens[modality]]
    images = " and one image per row" if tally.image_rows else ""
    image_sizes = (
        ", plus one image at its size's image tokens (Pro Image: 1,120 for 1K and 2K, 2,000 for 4K; "
        "Flash Image: 747 for 512, 1,120 for 1K, 1,680 for 2K, 2,520 for 4K)"
        if tally.image_rows
        else ""
    )
    return (
        f"Input tokens are estimated locally, as the emulator counts them (a real tokenizer differs): "
        f"{'; '.join(rules)}. Output, low end: a typical reply of {TYPICAL_TEXT_TOKENS} text tokens plus "
        f"thinking at the low end of its level (minimal 0, low 128, medium 512, high 1,024){images}. "
        "High end: max_output_tokens (the row's or the spec's, else the model's output limit) on every row, "
        f"thinking included{image_sizes}."
    )


def _price_note(spec: JobSpec, price: Price | None) -> str:
    model = spec.provider.model
    if price is None:
        return (
            f"no price is known for model {model!r}, so no cost is estimated; add a [pricing] table with "
            "input_per_million and output_per_million to the job spec"
        )
    overridden = pricing_override(spec.pricing) is not None
    source = (
        "the spec's [pricing] over the built-in table"
        if overridden
        else f"the built-in price table as of {PRICES_AS_OF}"
    )
    rates = (
        f"input ${price.input:.2f}/M, output ${price.output:.2f}/M (thinking included)"
    )
    if price.input_long is not None or price.output_long is not None:
        rates += (
            f", above 200k prompt tokens input ${price.input_long or price.input:.2f}/M, "
            f"output ${price.output_long or price.output:.2f}/M"
        )
    if price.image_output is not None:
        rates += f", image output ${price.image_output:.2f}/M"
    if price.per_image is not None:
        rates += f", ${price.per_image:.4f} per image"
    return f"USD, {source} for {model}: {rates}"


def render_estimate(estimate: Estimate) -> str:
    """The plain text `pipeline estimate` prints."""
    return render(estimate)
