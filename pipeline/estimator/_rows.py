"""One row of `pipeline estimate`: the checks a run makes before sending it, and its token range.

Input tokens follow `media_probe`'s rules (the emulator counts the same way), split by modality as Gemini's
`promptTokensDetails` does. Output is a range:

- low end, a *typical* reply: `TYPICAL_TEXT_TOKENS` of text (a short answer or a small JSON object) plus thinking
  at the low end of what its level spends (`TYPICAL_THINKING`), and one image on image models. Real replies at
  these settings are longer, so the low end is a floor a user can plan on, not an average;
- high end: `max_output_tokens` (the row's, the spec's, else the model's output limit), which bounds text and
  thinking together as the service counts them, plus one image at its size's image tokens.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from pipeline.catalog import (
    DEFAULT_OUTPUT_LIMIT,
    image_tokens,
    is_image_model,
    model_info,
)
from pipeline.input import build_prompt, estimate_text_tokens
from pipeline.input.media import (
    AUDIO_TOKENS_PER_S,
    UNKNOWN_VIDEO_BYTES_PER_S,
    MediaContext,
    MediaFile,
    probe_row,
)
from pipeline.records import Part, Prompt, Row, Usage
from pipeline.spec import JobSpec

__all__ = ("MODALITIES", "RowPlan", "plan_row", "plan_text_row", "with_media")

MODALITIES = ("text", "image", "audio", "video", "document")
TYPICAL_TEXT_TOKENS = 100
# The low end of what each thinking level spends on an ordinary request. Levels are maximums, not quotas
# (Gemini 3 docs), and "minimal" is about none; low-level replies think for a few hundred tokens.
TYPICAL_THINKING = {
    "minimal": 0,
    "low": 128,
    "medium": 512,
    "high": 1_024,
    "xhigh": 2_048,
}
# A model without a level (Pro Image always thinks) spends the catalog's `typical_thinking`; output tokens
# of a generated image by size are the catalog's `image_tokens`.


@dataclass(frozen=True, slots=True)
class RowPlan:
    """One valid row: what it sends (text-only prompt, probed files) and its token figures."""

    row: Row
    prompt: Prompt
    files: tuple[MediaFile, ...]
    uploads: bool  # a file would go through the Files API: countTokens cannot see it without an upload
    tokens: dict[str, int]  # local input estimate by modality
    output_low: Usage  # thinking and image tokens apart, as pricing.cost_usd wants them
    output_high: Usage
    images: int  # generated images per reply

    @property
    def input_tokens(self) -> int:
        return sum(self.tokens.values())


async def plan_row(row: Row, spec: JobSpec, context: MediaContext) -> RowPlan:
    """Resolve, probe and check `row`'s media as a run would, and estimate its tokens.

    :raises RowInvalid: a media file is missing, unreadable, of a refused type, damaged, or over a limit.
    """
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
    return plan_text_row(row, spec, files, uploads=uploads)


def plan_text_row(
    row: Row,
    spec: JobSpec,
    files: tuple[MediaFile, ...] = (),
    *,
    uploads: bool = False,
) -> RowPlan:
    """The plan of a row whose media (if any) are already probed and checked; no I/O."""
    media_tokens = sum(media.estimated_tokens for media in files)
    prompt = build_prompt(row, spec, media_tokens=media_tokens)
    low, high, images = _output_range(spec.provider.model, prompt)
    return RowPlan(
        row, prompt, files, uploads, _by_modality(prompt, files), low, high, images
    )


async def with_media(plan: RowPlan, spec: JobSpec) -> Prompt:
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
    """Split the row's estimate by modality; a video's sound counts as audio, as Gemini reports it.

    Function declarations go with every request and count as text, as their JSON.
    """
    tokens = dict.fromkeys(MODALITIES, 0)
    media_tokens = sum(media.estimated_tokens for media in files)
    tokens["text"] = prompt.estimated_input_tokens - media_tokens
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
            modality = "document" if media.kind == "pdf" else media.kind
            tokens[modality] += media.estimated_tokens
    return tokens


def _tool_tokens(tool: Mapping[str, Any]) -> int:
    return estimate_text_tokens(json.dumps(tool, separators=(",", ":"), default=str))


def _output_range(model: str, prompt: Prompt) -> tuple[Usage, Usage, int]:
    """(typical output, largest output, images per reply) for one row, under its own generation settings."""
    generation = prompt.generation
    info = model_info(model)
    limit = info.output_token_limit if info is not None else DEFAULT_OUTPUT_LIMIT
    max_out = generation.max_output_tokens or limit
    modalities = generation.response_modalities
    makes_images = "IMAGE" in modalities or (not modalities and is_image_model(model))
    image = image_tokens(model, generation.image_size) if makes_images else 0
    image_only = makes_images and bool(modalities) and "TEXT" not in modalities
    level = generation.thinking_level or (info.default_thinking_level if info else None)
    if level is not None:
        thinking = TYPICAL_THINKING.get(level, 0)
    else:
        thinking = info.typical_thinking if info is not None else 0
    # Thinking counts against max_output_tokens: a reply is never longer than the limit.
    thinking = min(thinking, max_out)
    text = min(0 if image_only else TYPICAL_TEXT_TOKENS, max_out - thinking)
    low = Usage(
        output_tokens=text + image,
        thinking_tokens=thinking,
        image_output_tokens=image,
    )
    high = Usage(output_tokens=max_out + image, image_output_tokens=image)
    return low, high, 1 if makes_images else 0
