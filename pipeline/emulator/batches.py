"""The Batch API without I/O: create bodies, job states, the operation resource, limits, directives.

A job moves PENDING -> RUNNING -> SUCCEEDED on a compressed clock (`batch_pending_s`, then
`batch_rows_per_s` lines per second); FAILED, CANCELLED and EXPIRED are the other terminal states.
`batch_worker.py` does the reading, generating and writing; `batch_routes.py` the HTTP side.

Wire shapes follow the reference (gemini-api.md §9, gemini-api-2026-12.md §5): the resource is a
long-running Operation `{"name": "batches/ID", "metadata": {"@type": ...GenerateContentBatch, "model",
"displayName", "createTime", "updateTime", "endTime", "batchStats", "state", "name", "output"},
"done", "response" | "error"}`; states are `BATCH_STATE_*`; counts are int64 strings with zeros
left out.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import normalize as n
from .apierror import ApiError, bad_value, invalid

if TYPE_CHECKING:
    from .config import EmulatorConfig

BATCH_TYPE = (
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
)
OUTPUT_TYPE = (
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
)

PENDING = "BATCH_STATE_PENDING"
RUNNING = "BATCH_STATE_RUNNING"
SUCCEEDED = "BATCH_STATE_SUCCEEDED"
FAILED = "BATCH_STATE_FAILED"
CANCELLED = "BATCH_STATE_CANCELLED"
EXPIRED = "BATCH_STATE_EXPIRED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, EXPIRED})

INLINE_LIMIT_BYTES = (
    20 * 1024 * 1024
)  # "keep the total request size under 20MB" (batch guide)

# google.rpc.Code numbers of the Operation's `error`.
_RPC_CANCELLED = 1
_RPC_DEADLINE_EXCEEDED = 4
_RPC_INTERNAL = 13

# The 429 the service answered to a batch create over quota (recorded 2026-01, langchain4j #3942):
# Help only, no QuotaFailure and no RetryInfo.
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To "
    "monitor your current usage, head to: https://ai.dev/rate-limit. "
)
_HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}

_CREATE = frozenset({"batch"})
_BATCH = frozenset(
    {"name", "model", "displayName", "inputConfig", "output", "createTime", "endTime",
     "updateTime", "batchStats", "state", "priority", "webhookConfig"}
)  # fmt: skip
_INPUT_CONFIG = frozenset({"fileName", "requests"})
_REQUESTS = frozenset({"requests"})
_INLINED_REQUEST = frozenset({"request", "metadata"})
_FILE_LINE = frozenset({"key", "request", "metadata"})
_ID_ALPHABET = string.ascii_lowercase + string.digits


def check_config(config: EmulatorConfig) -> None:
    """The batch settings of an EmulatorConfig (called from its __post_init__)."""
    for name in ("batch_pending_s",):
        if getattr(config, name) < 0:
            raise ValueError(
                f"{name} must not be negative, got {getattr(config, name)}"
            )
    for name in ("batch_rows_per_s", "batch_expire_s"):
        if getattr(config, name) <= 0:
            raise ValueError(f"{name} must be positive, got {getattr(config, name)}")
    for name in ("batch_max_concurrent", "batch_max_input_bytes"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.batch_enqueued_tokens is not None and config.batch_enqueued_tokens <= 0:
        raise ValueError(
            f"batch_enqueued_tokens must be a positive number, got {config.batch_enqueued_tokens}"
        )
    if not 0.0 <= config.batch_fail_rate <= 1.0:
        raise ValueError(
            f"batch_fail_rate must be between 0 and 1, got {config.batch_fail_rate}"
        )


def iso(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def new_id() -> str:
    """A batch id: 32 characters of [a-z0-9], like the service's."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


# ---------------------------------------------------------------------------------------------
# Job directives: written in the display name (Gemini) or a metadata value (OpenAI-compatible).


@dataclass(frozen=True, slots=True)
class JobDirectives:
    """How one job misbehaves: `[[emu:batch_fail=N]]` ends FAILED after N lines (default 0),
    `[[emu:batch_stall=N]]` stops answering after N lines so the job ends EXPIRED, and
    `[[emu:pending=S]]` / `[[emu:rows_per_s=R]]` override the clock for this job, and
    `[[emu:shuffle]]` returns inlined responses out of input order (as reported in python-genai
    #1909; each still carries its `metadata`)."""

    fail_after: int | None = None
    stall_after: int | None = None
    pending_s: float | None = None
    rows_per_s: float | None = None
    shuffle: bool = False


NO_JOB_DIRECTIVES = JobDirectives()
_BLOCK = re.compile(r"\[\[emu:([^\]]*)\]\]")


def parse_job_directives(text: str) -> JobDirectives:
    """The `[[emu:...]]` items of a display name; a 400 for an unknown or malformed one."""
    if "[[emu:" not in text:
        return NO_JOB_DIRECTIVES
    kw: dict[str, Any] = {}
    for block in _BLOCK.findall(text):
        for raw in block.split(","):
            item = raw.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            name, value = name.strip().lower(), value.strip()
            try:
                if name in ("batch_fail", "batch_stall"):
                    count = int(value) if value else 0
                    if count < 0:
                        raise ValueError
                    kw["fail_after" if name == "batch_fail" else "stall_after"] = count
                elif name == "pending":
                    kw["pending_s"] = float(value.lower().removesuffix("s"))
                    if kw["pending_s"] < 0:
                        raise ValueError
                elif name == "shuffle" and not value:
                    kw["shuffle"] = True
                elif name == "rows_per_s":
                    kw["rows_per_s"] = float(value)
                    if kw["rows_per_s"] <= 0:
                        raise ValueError
                else:
                    raise invalid(
                        f"unknown emulator batch directive {item!r}: use batch_fail[=N], "
                        "batch_stall[=N], pending=S, rows_per_s=R or shuffle"
                    )
            except ValueError:
                raise invalid(f"bad emulator batch directive {item!r}") from None
    return JobDirectives(**kw)


# ---------------------------------------------------------------------------------------------
# Create bodies and input lines.


@dataclass(frozen=True, slots=True)
class CreateSpec:
    """A validated `batchGenerateContent` body: a file or inline requests (request, metadata)."""

    display_name: str
    file_name: str | None
    requests: list[tuple[Any, Any]] | None
    priority: int
    directives: JobDirectives


def parse_create(body: Any) -> CreateSpec:
    """`{"batch": {"displayName", "inputConfig": {"fileName"} | {"requests": {"requests": [...]}},
    "priority"}}`, camelCase or snake_case; a 400 for anything else."""
    top = n.fields(body, _CREATE, "")
    if top.get("batch") is None:
        raise invalid(
            "* BatchGenerateContentRequest.batch: batch is required\n", "batch"
        )
    batch = n.fields(top["batch"], _BATCH, "batch")
    display = batch.get("displayName") or ""
    display = n.as_str(display, "batch.display_name")
    priority = (
        n.as_int(batch["priority"], "batch.priority") if batch.get("priority") else 0
    )
    config = batch.get("inputConfig")
    if config is None:
        raise invalid(
            "* BatchGenerateContentRequest.batch.input_config: input_config is required\n",
            "batch.input_config",
        )
    cfg = n.fields(config, _INPUT_CONFIG, "batch.input_config")
    file_name = cfg.get("fileName")
    requests = cfg.get("requests")
    if (file_name is None) == (requests is None):
        raise invalid(
            "* BatchGenerateContentRequest.batch.input_config.source: exactly one of file_name "
            "and requests must be set\n",
            "batch.input_config",
        )
    directives = parse_job_directives(display)
    if file_name is not None:
        name = n.as_str(file_name, "batch.input_config.file_name")
        if not name.startswith("files/") or len(name) <= 6:
            raise invalid(
                f"Invalid file name {name!r}: expected files/{{id}}.",
                "batch.input_config.file_name",
            )
        return CreateSpec(display, name, None, priority, directives)
    where = "batch.input_config.requests"
    items = n.as_list(
        n.fields(requests, _REQUESTS, where).get("requests") or [], f"{where}.requests"
    )
    if not items:
        raise invalid(
            f"* BatchGenerateContentRequest.{where}.requests: requests must not be empty\n",
            f"{where}.requests",
        )
    pairs: list[tuple[Any, Any]] = []
    for i, item in enumerate(items):
        entry = n.fields(item, _INLINED_REQUEST, f"{where}.requests[{i}]")
        if not isinstance(entry.get("request"), dict):
            raise invalid(
                f"* BatchGenerateContentRequest.{where}.requests[{i}].request: request is required\n",
                f"{where}.requests[{i}].request",
            )
        metadata = entry.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise bad_value(f"{where}.requests[{i}].metadata", "object", metadata)
        pairs.append((entry["request"], metadata))
    return CreateSpec(display, None, pairs, priority, directives)


def split_file_line(obj: Any) -> tuple[Any, Any]:
    """A parsed input line -> (key, GenerateContentRequest). Lines are `{"key", "request"}`; a bare
    request (as in the guide's REST sample) is accepted with no key."""
    if not isinstance(obj, dict):
        raise invalid("Each line of a batch input file must be a JSON object.")
    if "request" not in obj:
        return None, obj
    line = n.fields(obj, _FILE_LINE, "")
    if not isinstance(line["request"], dict):
        raise bad_value("request", "object", line["request"])
    return line.get("key"), line["request"]


# ---------------------------------------------------------------------------------------------
# Jobs.


@dataclass(slots=True, eq=False)
class BatchJob:
    """One batch job. `door`: "gemini", "google-openai" (Google's OpenAI layer) or "openai" (the
    aggregator). Output is a results file (`output_file`, plus `error_file` for OpenAI) or, for
    inline requests, `inline` (the inlined responses)."""

    id: str
    door: str
    model: str
    key: str
    display_name: str
    created: float  # wall clock
    created_mono: float  # monotonic clock: the job's timeline
    request_count: int
    input_tokens: int = 0  # enqueued input tokens (counted when a quota is configured)
    priority: int = 0
    file_name: str | None = None
    directives: JobDirectives = NO_JOB_DIRECTIVES
    state: str = PENDING
    started: float | None = None
    ended: float | None = None
    updated: float = 0.0
    ok: int = 0
    failed: int = 0
    output_file: str | None = None
    error_file: str | None = None
    inline: list[dict[str, Any]] | None = None
    error: tuple[int, str] | None = None
    # OpenAI-compatible doors
    endpoint: str = ""
    completion_window: str = ""
    metadata: dict[str, Any] | None = None
    validation_errors: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    cancelled_at: float | None = None

    @property
    def name(self) -> str:
        return f"batches/{self.id}"

    @property
    def processed(self) -> int:
        return self.ok + self.failed

    @property
    def pending(self) -> int:
        return max(0, self.request_count - self.processed)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def enqueued_tokens(self) -> int:
        """Input tokens not yet answered (a share of the job's total by lines still pending)."""
        if self.terminal or not self.request_count:
            return 0
        return self.input_tokens * self.pending // self.request_count


def will_fail(seed: int, job_id: str, rate: float) -> bool:
    """Whether `batch_fail_rate` makes this job end FAILED: a pure function of (seed, id)."""
    if rate <= 0.0:
        return False
    digest = hashlib.blake2b(
        job_id.encode(), digest_size=8, key=seed.to_bytes(8, "big", signed=True)
    ).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def stats_json(job: BatchJob) -> dict[str, str]:
    """batchStats: int64 strings, zero counts left out."""
    stats: dict[str, str] = {}
    for name, value in (
        ("requestCount", job.request_count),
        ("successfulRequestCount", job.ok),
        ("failedRequestCount", job.failed),
        ("pendingRequestCount", job.pending if not job.terminal else 0),
    ):
        if value:
            stats[name] = str(value)
    return stats


def output_json(job: BatchJob) -> dict[str, Any] | None:
    if job.output_file is not None:
        return {"responsesFile": job.output_file}
    if job.inline is not None:
        return {"inlinedResponses": {"inlinedResponses": job.inline}}
    return None


def operation_json(job: BatchJob) -> dict[str, Any]:
    """The job as the service returns it from create, get and list: a long-running Operation."""
    meta: dict[str, Any] = {"@type": BATCH_TYPE, "model": f"models/{job.model}"}
    if job.display_name:
        meta["displayName"] = job.display_name
    if job.file_name is not None:
        meta["inputConfig"] = {"fileName": job.file_name}
    meta["createTime"] = iso(job.created)
    meta["updateTime"] = iso(job.updated or job.created)
    if job.ended is not None:
        meta["endTime"] = iso(job.ended)
    stats = stats_json(job)
    if stats:
        meta["batchStats"] = stats
    meta["state"] = job.state
    meta["name"] = job.name
    if job.priority:
        meta["priority"] = str(job.priority)
    output = output_json(job)
    if output is not None:
        meta["output"] = output
    op: dict[str, Any] = {"name": job.name, "metadata": meta}
    if job.terminal:
        op["done"] = True
        if job.state == SUCCEEDED:
            op["response"] = {"@type": OUTPUT_TYPE, **(output or {})}
        else:
            code, message = job.error or (_RPC_INTERNAL, "The batch job failed.")
            op["error"] = {"code": code, "message": message}
    return op


def failed_error(message: str) -> tuple[int, str]:
    return _RPC_INTERNAL, message


def expired_error() -> tuple[int, str]:
    return (
        _RPC_DEADLINE_EXCEEDED,
        "The batch job expired: it was pending or running for longer than the time allowed (48 hours).",
    )


def cancelled_error() -> tuple[int, str]:
    return _RPC_CANCELLED, "The batch job was cancelled."


# ---------------------------------------------------------------------------------------------
# The registry of jobs and the create-time limits.


def quota_error(door: str, model: str, limit: int | None = None) -> ApiError:
    """429 RESOURCE_EXHAUSTED at create: Google's recorded body, or OpenAI's shape on /v1/."""
    if door == "openai":
        what = (
            f"Enqueued token limit reached for {model}. Limit: {limit:,} enqueued tokens."
            if limit is not None
            else "Too many concurrent batch jobs."
        )
        return ApiError(
            429,
            f"{what} Please try submitting your batch again later.",
            openai_type="tokens" if limit is not None else "requests",
            openai_code="token_limit_exceeded"
            if limit is not None
            else "rate_limit_exceeded",
        )
    return ApiError(429, QUOTA_MESSAGE, details=[_HELP])


def not_found(name: str) -> ApiError:
    return ApiError(404, f"Requested entity was not found: {name}.")


class BatchStore:
    """The jobs of one emulator, oldest first; `admit` applies the create-time limits."""

    def __init__(self) -> None:
        self.jobs: dict[str, BatchJob] = {}

    def add(self, job: BatchJob) -> None:
        self.jobs[job.id] = job

    def get(self, job_id: str, doors: frozenset[str]) -> BatchJob:
        job = self.jobs.get(job_id.removeprefix("batches/"))
        if job is None or job.door not in doors:
            raise not_found(f"batches/{job_id.removeprefix('batches/')}")
        return job

    def remove(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    def page(
        self, doors: frozenset[str], size: int, token: str | None
    ) -> tuple[list[BatchJob], str | None]:
        """Newest first; the page token is an offset."""
        ordered = [j for j in reversed(self.jobs.values()) if j.door in doors]
        start = int(token) if token and token.isdigit() else 0
        chunk = ordered[start : start + size]
        return chunk, (str(start + size) if start + size < len(ordered) else None)

    def admit(
        self,
        config: EmulatorConfig,
        door: str,
        key: str,
        model: str,
        tokens: int,
    ) -> None:
        """Raise the 429 the service sends when the key has too many live jobs, or when the
        model's enqueued tokens plus this job's would pass `batch_enqueued_tokens`."""
        live = [j for j in self.jobs.values() if j.key == key and not j.terminal]
        if len(live) >= config.batch_max_concurrent:
            raise quota_error(door, model)
        limit = config.batch_enqueued_tokens
        if limit is not None:
            queued = sum(j.enqueued_tokens() for j in live if j.model == model)
            if queued + tokens > limit:
                raise quota_error(door, model, limit)
