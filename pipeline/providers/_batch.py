"""The Batch API's wire formats: input lines, the job resource, result lines. Pure translation, no I/O.

Two dialects share one vocabulary, so the batch runner (`pipeline.modes.batch`) never looks at JSON:

- **Gemini** (reference: gemini-api.md section 9, gemini-api-2026-12.md section 5): input lines
  `{"key": ROW_ID, "request": GenerateContentRequest}` in a file uploaded through the Files API;
  `POST v1beta/models/{model}:batchGenerateContent` creates a job (a long-running Operation, `BATCH_STATE_*`,
  int64-string `batchStats`); the results are a generated file of `{"key", "response" | "error"}` lines,
  downloaded from `download/v1beta/{file}:download?alt=media`.
- **OpenAI-compatible** (an aggregator's `/v1/batches`): input lines `{"custom_id", "method", "url", "body"}`
  in a file uploaded as multipart to `/files` (`purpose=batch`); `POST /batches` creates it; results are an
  output file and an error file of `{"custom_id", "response": {"status_code", "body"}, "error"}` lines from
  `/files/{id}/content`.

Every state is reported in Gemini's names without the prefix: PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED,
EXPIRED. The job's display name (Gemini) or its `metadata["pipeline_job"]` (OpenAI) carries the run's own id for
the job, which is how a job whose create call never answered is found again (`RemoteBatch.display_name`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.errors import ReplyInvalid
from pipeline.records import HttpResponse

from ._schema import decode_reply_body, to_int

__all__ = (
    "TERMINAL_STATES",
    "BatchLine",
    "RemoteBatch",
    "gemini_batch",
    "gemini_line",
    "multipart_frame",
    "openai_batch",
    "openai_line",
    "parse_line",
)

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
# OpenAI's statuses in Gemini's names; `finalizing` and `cancelling` still have work in flight.
_OPENAI_STATES = {
    "validating": "PENDING",
    "in_progress": "RUNNING",
    "finalizing": "RUNNING",
    "cancelling": "RUNNING",
    "completed": "SUCCEEDED",
    "failed": "FAILED",
    "expired": "EXPIRED",
    "cancelled": "CANCELLED",
}
OPENAI_ENDPOINT = "/v1/chat/completions"
METADATA_KEY = "pipeline_job"


@dataclass(frozen=True, slots=True)
class RemoteBatch:
    """A batch job as the provider last described it.

    `result_files` are the files to download once it ended (Gemini: the responses file; OpenAI: the output file
    and the error file, when there are lines in them); `error` is the job-level reason of a job that failed,
    expired or was cancelled, in the provider's words.
    """

    name: str
    state: str
    display_name: str | None = None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    result_files: tuple[str, ...] = ()
    error: str | None = None
    inline: bool = False  # the results came inline in the job (never for the jobs pipeline creates)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def answered(self) -> int:
        return self.succeeded + self.failed


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One line of a result file, decoded: the row's key, then either the reply (`status` 200 and `body` the
    provider's reply document) or an error (`status` the HTTP code and `body` the error document)."""

    key: str | None
    status: int
    body: Any

    def error_response(self) -> HttpResponse:
        """The error as the HTTP reply an online request would have got, for the one error table."""
        return HttpResponse(self.status, {}, json.dumps(self.body).encode("utf-8"))


def gemini_line(key: str, request: Mapping[str, Any]) -> bytes:
    """One input line of a Gemini batch file (compact JSON and a newline)."""
    return (
        json.dumps(
            {"key": key, "request": request}, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8", "surrogatepass")
        + b"\n"
    )


def openai_line(key: str, body: Mapping[str, Any]) -> bytes:
    """One input line of an OpenAI batch file: a chat completion request keyed by `custom_id`."""
    line = {"custom_id": key, "method": "POST", "url": OPENAI_ENDPOINT, "body": body}
    return (
        json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )
        + b"\n"
    )


def multipart_frame(display_name: str) -> tuple[bytes, bytes, str]:
    """(head, tail, content type) of a multipart/form-data body with `purpose=batch` and the file: the head and
    the tail are written around the lines in the file on disk, which is then sent as it is (streamed)."""
    boundary = "pipeline-" + hashlib.sha256(display_name.encode()).hexdigest()[:32]
    filename = "".join(c if c.isalnum() or c in "-_." else "_" for c in display_name)
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="purpose"\r\n\r\n'
        "batch\r\n"
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename[:100]}.jsonl"\r\n'
        "Content-Type: application/jsonl\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, f"multipart/form-data; boundary={boundary}"


def gemini_batch(doc: Any) -> RemoteBatch:
    """A Gemini Operation (create, get, or one of a list's `operations`) -> RemoteBatch."""
    if not isinstance(doc, dict):
        raise ReplyInvalid("the batch reply is not a JSON object", code="INVALID_JSON")
    meta = _obj(doc.get("metadata")) or doc
    name = doc.get("name") or meta.get("name")
    if not isinstance(name, str) or not name:
        raise ReplyInvalid("the batch reply has no name", code="INVALID_JSON")
    state = str(meta.get("state") or "BATCH_STATE_PENDING")
    state = state.removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
    if state in ("UNSPECIFIED", "QUEUED"):
        state = "PENDING"
    stats = _obj(meta.get("batchStats"))
    output = _obj(meta.get("output")) or _obj(doc.get("response"))
    files = output.get("responsesFile")
    error = doc.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    display = meta.get("displayName")
    return RemoteBatch(
        name=name,
        state=state,
        display_name=display if isinstance(display, str) else None,
        total=to_int(stats.get("requestCount")),
        succeeded=to_int(stats.get("successfulRequestCount")),
        failed=to_int(stats.get("failedRequestCount")),
        result_files=(files,) if isinstance(files, str) and files else (),
        error=message if isinstance(message, str) else None,
        inline="inlinedResponses" in output,
    )


def openai_batch(doc: Any) -> RemoteBatch:
    """An OpenAI Batch object -> RemoteBatch."""
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        raise ReplyInvalid("the batch reply is not a Batch object", code="INVALID_JSON")
    status = str(doc.get("status") or "validating")
    counts = _obj(doc.get("request_counts"))
    files = tuple(
        value
        for value in (doc.get("output_file_id"), doc.get("error_file_id"))
        if isinstance(value, str) and value
    )
    metadata = _obj(doc.get("metadata"))
    errors = doc.get("errors")
    message = None
    if isinstance(errors, dict) and isinstance(errors.get("data"), list):
        message = "; ".join(
            str(item.get("message"))
            for item in errors["data"][:3]
            if isinstance(item, dict)
        )
    elif status == "expired":
        message = "the batch expired before it finished (completion window passed)"
    completed = to_int(counts.get("completed"))
    failed = to_int(counts.get("failed"))
    display = metadata.get(METADATA_KEY)
    return RemoteBatch(
        name=doc["id"],
        state=_OPENAI_STATES.get(status, "RUNNING"),
        display_name=display if isinstance(display, str) else None,
        total=to_int(counts.get("total")),
        succeeded=completed,
        failed=failed,
        result_files=files,
        error=message or None,
    )


def parse_line(raw: bytes) -> BatchLine:
    """A result line of either dialect -> BatchLine. Raises `ReplyInvalid` for a line that is not JSON."""
    doc = decode_reply_body(raw)
    if not isinstance(doc, dict):
        raise ReplyInvalid("a result line is not a JSON object", code="INVALID_JSON")
    if "custom_id" in doc:  # OpenAI
        key = doc.get("custom_id")
        response = doc.get("response")
        error = doc.get("error")
        if isinstance(response, dict):
            status = to_int(response.get("status_code")) or 500
            return BatchLine(_key(key), status, response.get("body"))
        return BatchLine(_key(key), 500, {"error": error if error else {}})
    key = doc.get("key")
    if key is None and isinstance(doc.get("metadata"), dict):
        key = doc["metadata"].get("key")  # an inlined response
    if "response" in doc:
        return BatchLine(_key(key), 200, doc["response"])
    error = doc.get("error")
    status = to_int(error.get("code")) if isinstance(error, dict) else 0
    return BatchLine(_key(key), status if status >= 400 else 500, {"error": error})


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _key(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
