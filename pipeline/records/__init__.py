"""The values that flow through a run, from an input row to an output row.

They are plain frozen dataclasses so that every layer (source, providers, engine, journal, sink) can share
them without sharing behaviour. Providers turn a `Prompt` into an `HttpRequest` and an `HttpResponse` into a
`Reply`; the transport only ever sees the two `Http*` records, never a provider. The one table of the columns
an `Outcome` is stored and published as is the submodule `pipeline.records.columns` (this module does not
import it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = (
    "FINAL_STATUSES",
    "FileSlice",
    "GeneratedImage",
    "GenerationSettings",
    "HttpRequest",
    "HttpResponse",
    "ImageFile",
    "InvalidRow",
    "JournalTotals",
    "MediaRef",
    "Outcome",
    "Part",
    "Prompt",
    "Reply",
    "Row",
    "Status",
    "ThinkingLevel",
    "UploadedFile",
    "Usage",
)

# `pending` appears only in the results of a session that stopped early: the row has no outcome yet.
Status = Literal["ok", "failed", "blocked", "truncated", "invalid", "pending"]
FINAL_STATUSES: tuple[Status, ...] = ("ok", "failed", "blocked", "truncated", "invalid")
ReplyStatus = Literal["ok", "blocked", "failed", "truncated"]
ThinkingLevel = Literal[
    "minimal", "low", "medium", "high", "xhigh"
]  # "minimal": some Flash and Flash-Lite models; "xhigh": some Gemini 4 models (the catalog says which)


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A media file named by a row, before it is resolved under the spec's `media_dir`."""

    path: str
    mime_type: str | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """One input line that parsed; `fields` is the JSON object as read (for templates and `keep_fields`)."""

    id: str
    line: int
    fields: Mapping[str, Any]
    prompt: str
    system: str | None = None
    media: tuple[MediaRef, ...] = ()
    generation: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """An input line that cannot become a request; it still gets an output row, with the reason."""

    id: str
    line: int
    reason: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """Generation settings in provider-neutral form; names follow the Gemini API in snake_case."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_output_tokens: int | None = None
    seed: int | None = None
    stop_sequences: tuple[str, ...] = ()
    thinking_level: ThinkingLevel | None = None
    include_thoughts: bool = False
    response_mime_type: str | None = None
    response_schema: Mapping[str, Any] | None = None
    response_modalities: tuple[str, ...] = ()
    image_aspect_ratio: str | None = None
    image_size: str | None = None
    media_resolution: str | None = None
    tools: tuple[
        Mapping[str, Any], ...
    ] = ()  # function declarations: {"name", "description", "parameters"}
    # [generation] tool_config: AUTO | ANY | NONE | VALIDATED, and the functions ANY/VALIDATED may call
    function_calling_mode: str | None = None
    allowed_function_names: tuple[str, ...] = ()

    # "standard" | "flex" | "priority" | "auto" (the engine picks flex or standard per attempt); None: standard
    service_tier: str | None = None

    @property
    def wants_json(self) -> bool:
        return (
            self.response_mime_type == "application/json"
            or self.response_schema is not None
        )


@dataclass(frozen=True, slots=True)
class FileSlice:
    """A byte range of a file on disk, sent as a request body without being read into memory."""

    path: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of a prompt: text, inline bytes, or a file already uploaded to the provider."""

    text: str | None = None
    mime_type: str | None = None
    data: bytes | None = None
    file_uri: str | None = None
    source_path: str | None = (
        None  # the media path as the row named it, for error messages
    )


@dataclass(frozen=True, slots=True)
class Prompt:
    """Everything a provider needs to build one request; built once per row, reused by every attempt."""

    row_id: str
    model: str
    parts: tuple[Part, ...]
    generation: GenerationSettings
    system: str | None = None
    estimated_input_tokens: int = 0
    # An explicit context cache (`cachedContents/...`) holding the system instruction, the tools and the shared
    # files: the request names it and leaves those out.
    cached_content: str | None = None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A provider's request, ready for the transport. `body` is bytes, a file slice, or nothing."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | FileSlice | None = None
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What the transport received; header names are lower-case (the transport lower-cases them, joining repeats)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage as the provider reported it. `output_tokens` excludes thinking, as Gemini's
    `candidatesTokenCount` does; `image_output_tokens` is the part of `output_tokens` billed at the
    image price.

    `input_by_modality` / `cached_by_modality` are the provider's breakdown of `input_tokens` / `cached_tokens`
    by lower-case modality ("text", "image", "audio", "video", "document"), as Gemini's `promptTokensDetails` /
    `cacheTokensDetails` give it; None when the reply has none. They only price audio at its own rate: they are
    not journaled (the journal builds a Usage from the six counts, positionally), need not sum to the counts, and
    take no part in equality."""

    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cached_tokens: int = 0
    total_tokens: int = 0
    image_output_tokens: int = 0
    input_by_modality: Mapping[str, int] | None = field(default=None, compare=False)
    cached_by_modality: Mapping[str, int] | None = field(default=None, compare=False)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.thinking_tokens + other.thinking_tokens,
            self.cached_tokens + other.cached_tokens,
            self.total_tokens + other.total_tokens,
            self.image_output_tokens + other.image_output_tokens,
            _merge(
                self.input_by_modality,
                self.input_tokens,
                other.input_by_modality,
                other.input_tokens,
            ),
            _merge(
                self.cached_by_modality,
                self.cached_tokens,
                other.cached_by_modality,
                other.cached_tokens,
            ),
        )


def _merge(
    a: Mapping[str, int] | None, a_count: int, b: Mapping[str, int] | None, b_count: int
) -> Mapping[str, int] | None:
    """The sum of two breakdowns; a side without one counts as empty only when its count is zero."""
    if (a is None and a_count) or (b is None and b_count) or (a is None and b is None):
        return None
    merged = dict(a or {})
    for key, count in (b or {}).items():
        merged[key] = merged.get(key, 0) + count
    return merged


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """An image in a reply, decoded; the engine hands it to the sink at once so few are held."""

    mime_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply that parsed. `status` is `blocked` when a safety filter refused the prompt or the output."""

    status: ReplyStatus
    usage: Usage
    text: str | None = None
    json: str | None = None
    images: tuple[GeneratedImage, ...] = ()
    function_calls: str | None = None
    finish_reason: str | None = None
    model_version: str | None = None
    error_code: str | None = (
        None  # why a reply is blocked or failed (e.g. SAFETY, NO_IMAGE)
    )
    error_message: str | None = None
    thoughts: str | None = (
        None  # thought summaries (include_thoughts), never part of `text`
    )
    # The tier the provider says it served the reply at: "standard", "flex", "priority" (Gemini's
    # usageMetadata.serviceTier or the x-gemini-service-tier header; Vertex's trafficType mapped to these names,
    # "provisioned_throughput" for PT); None when the reply does not say.
    service_tier: str | None = None


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file held by the provider's Files API; reused across rows and runs until it expires."""

    name: str
    uri: str
    mime_type: str
    state: str  # PROCESSING | ACTIVE | FAILED
    size_bytes: int = 0
    sha256: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ImageFile:
    """A generated image written under DIR/images/; `path` is relative to DIR."""

    path: str
    mime_type: str
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """The final word on one row: what the journal records and the sink writes as one Parquet row."""

    id: str
    status: Status
    usage: Usage = Usage()
    text: str | None = None
    json: str | None = None
    images: tuple[ImageFile, ...] = ()
    function_calls: str | None = None
    finish_reason: str | None = None
    model_version: str | None = None
    cost_usd: float | None = None
    attempts: int = 0
    latency_ms: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    line: int | None = None
    kept: Mapping[str, Any] = field(default_factory=dict)
    thoughts: str | None = None
    service_tier: str | None = None


@dataclass(frozen=True, slots=True)
class JournalTotals:
    """Aggregates over the latest outcome of every row (SQL, no decoding). `spent_usd` also counts outcomes
    that a later one replaced (e.g. a `failed` row retried with --retry-failed): money that was really spent."""

    rows: int = 0
    by_status: Mapping[str, int] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    attempts: int = 0
    spent_usd: float = 0.0
    unpriced_rows: int = (
        0  # rows sent to a model without a price: their cost is unknown, not zero
    )
    # By the tier each row was served at ("standard", "flex", "priority"; "unreported" for rows that were billed
    # but whose reply named no tier): {"rows", "input_tokens", "output_tokens", "thinking_tokens",
    # "cached_tokens", "total_tokens", "cost_usd"}.
    by_tier: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One request of one row, as it ended: what `pipeline report` draws the run's timeline from.

    `result` is the parsed reply's status (`ok`, `blocked`, `failed`) or `error` when the attempt raised an
    `AttemptError` (then `error_code`, and `http_status` when the server answered, say why). Times are Unix
    seconds. `service_tier` is the tier that served the request when the provider says (None otherwise).
    """

    row_id: str
    attempt: int  # 1 for a row's first request in a session, 2 for its first retry, ...
    started_at: float
    ended_at: float
    result: Literal["ok", "blocked", "failed", "truncated", "error"]
    http_status: int | None = (
        None  # 200 for a reply that arrived; None when no HTTP answer (timeout, reset)
    )
    error_code: str | None = None
    message: str | None = (
        None  # the error's message, cut to MAX_ATTEMPT_MESSAGE characters
    )
    service_tier: str | None = None


MAX_ATTEMPT_MESSAGE = 300
