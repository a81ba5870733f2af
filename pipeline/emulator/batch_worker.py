"""Running a batch job: scan its input, answer each line as generateContent would, write the results.

Each line is answered by `flow.synthesize`, the function behind every online reply, so a batch row
and an online request with the same GenerateContentRequest get the same text and token counts.
Results go to a new file in the Files store, one line at a time (never the whole output in
memory), or to the job's inlined responses for inline requests. The clock is compressed: a job
waits `batch_pending_s`, then answers `batch_rows_per_s` lines per second in slices of at most
SLICE_S seconds of work, yielding to the event loop between slices.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import IO, Any, Protocol

from . import batches, faults
from .apierror import ApiError, invalid
from .batches import BatchJob
from .files import StoredFile
from .flow import State, response_id, synthesize
from .gemini import response_json
from .jsonio import dumps, loads
from .models import ModelInfo
from .openai_compat import completion_json
from .openai_request import chat_request
from .request import GenRequest, parse_generate
from .synth import GenResult
from .throttle import fault_error

SLICE_S = 0.01  # at most this much work between two yields to the event loop
BREATHE_S = (
    0.002  # then this long for the server's other requests (a few loop iterations)
)
RESULT_MIME = "application/jsonl"


# ---------------------------------------------------------------------------------------------
# Answering one request.


def answer(
    state: State, model: ModelInfo, request: Any, digest: bytes
) -> tuple[GenRequest, GenResult]:
    """Validate one GenerateContentRequest and generate its reply (or raise the ApiError the online
    route would answer). Reply directives apply as online (attempt 1); `fail=CODE` fails the line;
    transport faults (hang, reset, malformed, truncated, latency) and random faults do not apply."""
    req = parse_generate(request, model, state.files.resolve)
    return req, reply(state, req, digest)


def reply(state: State, req: GenRequest, digest: bytes) -> GenResult:
    try:
        directives = faults.parse("\n".join(req.all_text))
    except faults.DirectiveError as exc:
        raise invalid(str(exc)) from None
    decision = faults.decide(directives, 1, seed=state.config.seed, body_hash=digest)
    if decision.status:
        raise fault_error(decision, "gemini")
    decision = replace(
        decision, hang_s=0.0, reset=False, malformed=False, truncated=False
    )
    return synthesize(state, req, decision, digest)


def status_json(err: ApiError) -> dict[str, Any]:
    """A per-line error: `{"code", "message", "status"}` (HTTP code and Google status)."""
    return {"code": err.code, "message": err.message, "status": err.status}


# ---------------------------------------------------------------------------------------------
# Result files.


class JsonlFile:
    """A JSONL file written line by line into the Files store's directory; `finish` returns it as a
    GENERATED file for the caller to register (the Files API, or the aggregator's files)."""

    def __init__(self, directory: str, file_id: str, display_name: str) -> None:
        self.id = file_id[:40]
        self.display_name = display_name
        self.path = os.path.join(directory, self.id)
        self.handle: IO[bytes] | None = open(self.path, "wb", buffering=1 << 20)  # noqa: SIM115 - open across the job
        self.sha = hashlib.sha256()
        self.size = 0
        self.lines = 0
        self.created = time.time()

    def write(self, obj: Any) -> None:
        data = dumps(obj) + b"\n"
        assert self.handle is not None
        self.handle.write(data)
        self.sha.update(data)
        self.size += len(data)
        self.lines += 1

    def finish(self) -> StoredFile:
        self._close()
        return StoredFile(
            self.id, self.display_name, RESULT_MIME, self.path, self.created, self.created,
            size=self.size, sha256_hex=self.sha.hexdigest(), source="GENERATED",
        )  # fmt: skip

    def discard(self) -> None:
        self._close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


# ---------------------------------------------------------------------------------------------
# Scanning an input file before the job is created (in a thread: files may be 2 GB).


@dataclass(slots=True)
class Scan:
    count: int = 0
    tokens: int = 0
    model: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


class FileLines:
    """The non-blank lines of a file, opened now (so the job keeps its input even if the file is
    deleted from the Files API meanwhile) and closed by `close()`."""

    def __init__(self, path: str) -> None:
        self.fh = open(path, "rb")  # noqa: SIM115 - closed by close()

    def __iter__(self) -> FileLines:
        return self

    def __next__(self) -> bytes:
        for raw in self.fh:
            if raw.strip():
                return raw
        raise StopIteration

    def close(self) -> None:
        self.fh.close()


def lines_of(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        for raw in fh:
            if raw.strip():
                yield raw


def scan_gemini(state: State, path: str, model: ModelInfo, count_tokens: bool) -> Scan:
    """Lines of a Gemini input file, and their input tokens when a quota needs them."""
    scan = Scan()
    for raw in lines_of(path):
        scan.count += 1
        if count_tokens:
            with contextlib.suppress(ApiError, ValueError):
                _, request = batches.split_file_line(loads(raw))
                scan.tokens += parse_generate(
                    request, model, state.files.resolve
                ).prompt_tokens
    return scan


def scan_inline(state: State, requests: list[tuple[Any, Any]], model: ModelInfo) -> int:
    tokens = 0
    for request, _ in requests:
        with contextlib.suppress(ApiError):
            tokens += parse_generate(request, model, state.files.resolve).prompt_tokens
    return tokens


_OPENAI_LINE = ("custom_id", "method", "url", "body")


def scan_openai(
    state: State, path: str, endpoint: str, flavour: str, count_tokens: bool
) -> Scan:
    """OpenAI's validation of a batch input file: one JSON object per line with custom_id, method,
    url and body; unique custom_ids; the batch's endpoint; one model. Problems go to `errors`
    (the batch then ends `failed`), as OpenAI reports them."""
    scan = Scan()
    seen: set[str] = set()
    for line_no, raw in enumerate(lines_of(path), start=1):
        scan.count += 1
        if len(scan.errors) >= 100:
            continue
        try:
            obj = loads(raw)
        except ValueError:
            scan.errors.append(
                _line_error(
                    "invalid_json_line",
                    line_no,
                    "This line is not parseable as valid JSON.",
                )
            )
            continue  # fmt: skip
        if not isinstance(obj, dict):
            scan.errors.append(
                _line_error(
                    "invalid_json_line", line_no, "Each line must be a JSON object."
                )
            )
            continue  # fmt: skip
        missing = [k for k in _OPENAI_LINE if obj.get(k) in (None, "")]
        if missing:
            scan.errors.append(_line_error(
                "missing_required_parameter", line_no, f"Missing required parameter: '{missing[0]}'.", missing[0],
            ))  # fmt: skip
            continue
        if str(obj["method"]).upper() != "POST":
            scan.errors.append(
                _line_error(
                    "invalid_method", line_no, "The method must be POST.", "method"
                )
            )
            continue  # fmt: skip
        if obj["url"] != endpoint:
            scan.errors.append(_line_error(
                "invalid_url", line_no,
                f"The url '{obj['url']}' does not match the batch's endpoint '{endpoint}'.", "url",
            ))  # fmt: skip
            continue
        custom_id = str(obj["custom_id"])
        if custom_id in seen:
            scan.errors.append(_line_error(
                "duplicate_custom_id", line_no, f"The custom_id '{custom_id}' is used more than once.", "custom_id",
            ))  # fmt: skip
            continue
        seen.add(custom_id)
        body = obj["body"]
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            scan.errors.append(_line_error(
                "missing_required_parameter", line_no, "Missing required parameter: 'body.model'.", "body.model",
            ))  # fmt: skip
            continue
        if scan.model is None:
            scan.model = model
        elif model != scan.model:
            scan.errors.append(_line_error(
                "mismatched_model", line_no,
                f"All requests of a batch must use the same model; got '{model}' after '{scan.model}'.", "body.model",
            ))  # fmt: skip
            continue
        if count_tokens:
            with contextlib.suppress(ApiError):
                scan.tokens += chat_request(body, flavour, state.files)[1].prompt_tokens
    return scan


def _line_error(
    code: str, line: int, message: str, param: str | None = None
) -> dict[str, Any]:
    return {"code": code, "line": line, "message": message, "param": param}


# ---------------------------------------------------------------------------------------------
# Line processors: one per input kind.


class Lines(Protocol):
    def process(self, item: Any) -> None: ...

    def finish(self, keep: bool) -> None: ...


def _plain(model: str) -> str:
    return model.removeprefix("google/").removeprefix("models/")


def _bill_ok(state: State, job: BatchJob, model: str, res: GenResult) -> None:
    job.ok += 1
    state.ledger.batch.line_ok(
        model, res.prompt_tokens, res.text_tokens, res.thoughts_tokens, res.image_tokens
    )


def _bill_failed(state: State, job: BatchJob, model: str) -> None:
    job.failed += 1
    state.ledger.batch.line_failed(model)


class GeminiFileLines:
    """`{"key", "request"}` lines -> `{"key", "response"}` or `{"key", "error"}` lines."""

    def __init__(self, state: State, job: BatchJob, model: ModelInfo) -> None:
        self.state, self.job, self.model = state, job, model
        self.out = JsonlFile(
            state.files.dir, f"batch-{job.id}", f"batch-{job.id}-responses"
        )

    def process(self, item: Any) -> None:
        raw: bytes = item
        digest = hashlib.sha256(raw).digest()
        key: Any = None
        line: dict[str, Any] = {}
        try:
            try:
                obj = loads(raw)
            except ValueError as exc:
                raise invalid(f"Invalid JSON payload received. {exc}") from None
            if isinstance(obj, dict):
                key = obj.get("key")
            key, request = batches.split_file_line(obj)
            _, res = answer(self.state, self.model, request, digest)
        except ApiError as err:
            if key is not None:
                line["key"] = key
            line["error"] = status_json(err)
            _bill_failed(self.state, self.job, self.model.id)
        else:
            if key is not None:
                line["key"] = key
            line["response"] = response_json(res, self.model.id, response_id(digest, 1))
            _bill_ok(self.state, self.job, self.model.id, res)
        self.out.write(line)

    def finish(self, keep: bool) -> None:
        if keep:
            stored = self.out.finish()
            self.state.files.add(stored)
            self.job.output_file = f"files/{stored.id}"
        else:
            self.out.discard()


class GeminiInlineLines:
    """(request, metadata) pairs -> inlined responses `{"response" | "error", "metadata"}`."""

    def __init__(self, state: State, job: BatchJob, model: ModelInfo) -> None:
        self.state, self.job, self.model = state, job, model
        self.results: list[dict[str, Any]] = []

    def process(self, item: Any) -> None:
        request, metadata = item
        digest = hashlib.sha256(dumps(request)).digest()
        entry: dict[str, Any] = {}
        try:
            _, res = answer(self.state, self.model, request, digest)
        except ApiError as err:
            entry["error"] = status_json(err)
            _bill_failed(self.state, self.job, self.model.id)
        else:
            entry["response"] = response_json(
                res, self.model.id, response_id(digest, 1)
            )
            _bill_ok(self.state, self.job, self.model.id, res)
        if metadata is not None:
            entry["metadata"] = metadata
        self.results.append(entry)

    def finish(self, keep: bool) -> None:
        if keep and self.job.directives.shuffle:
            random.Random(self.job.id).shuffle(self.results)
        self.job.inline = self.results if keep else None


class OpenAILines:
    """OpenAI batch lines `{"custom_id", "method", "url", "body"}` -> output lines `{"id",
    "custom_id", "response": {"status_code": 200, "request_id", "body"}, "error": null}`; requests
    that fail go to the error file with their status code and error body."""

    def __init__(
        self,
        state: State,
        job: BatchJob,
        file_ids: tuple[str, str],
        register: Callable[[StoredFile], str],
    ) -> None:
        self.state, self.job, self.register = state, job, register
        self.flavour = job.door
        directory = state.files.dir
        self.out = JsonlFile(directory, file_ids[0], f"batch-{job.id}-output")
        self.err = JsonlFile(directory, file_ids[1], f"batch-{job.id}-errors")

    def process(self, item: Any) -> None:
        raw: bytes = item
        digest = hashlib.sha256(raw).digest()
        rid = response_id(digest, 1)
        line_id = f"batch_req_{rid[:24]}"
        custom_id: Any = None
        model_name = self.job.model
        try:
            try:
                obj = loads(raw)
            except ValueError as exc:
                raise invalid(
                    f"This line is not parseable as valid JSON: {exc}"
                ) from None
            if not isinstance(obj, dict) or not isinstance(obj.get("body"), dict):
                raise invalid("Each line needs a JSON object `body`.", "body")
            custom_id = obj.get("custom_id")
            body = obj["body"]
            model_name = str(body.get("model") or model_name)
            model, req = chat_request(body, self.flavour, self.state.files)
            res = reply(self.state, req, digest)
        except ApiError as err:
            error_body: Any = (
                err.openai_body() if self.flavour == "openai" else [err.google_body()]
            )
            self.err.write({
                "id": line_id, "custom_id": custom_id,
                "response": {"status_code": err.code, "request_id": rid, "body": error_body}, "error": None,
            })  # fmt: skip
            _bill_failed(self.state, self.job, _plain(model_name))
            return
        completion = completion_json(res, req, rid, self.flavour, model_name)
        self.out.write({
            "id": line_id, "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": rid, "body": completion}, "error": None,
        })  # fmt: skip
        usage = self.job.usage
        usage["input_tokens"] = usage.get("input_tokens", 0) + res.prompt_tokens
        usage["output_tokens"] = (
            usage.get("output_tokens", 0) + res.candidates_tokens + res.thoughts_tokens
        )
        usage["reasoning_tokens"] = usage.get("reasoning_tokens", 0) + res.thoughts_tokens  # fmt: skip
        _bill_ok(self.state, self.job, model.id, res)

    def finish(self, keep: bool) -> None:
        for sink, attr in ((self.out, "output_file"), (self.err, "error_file")):
            if keep and sink.lines:
                setattr(self.job, attr, self.register(sink.finish()))
            else:
                sink.discard()


# ---------------------------------------------------------------------------------------------
# The job's clock.


class Runner:
    """Drives one job through its states on the event loop (never blocking it for long)."""

    def __init__(
        self,
        state: State,
        job: BatchJob,
        source: Iterator[Any],
        lines: Lines,
    ) -> None:
        self.state, self.job, self.source, self.lines = state, job, source, lines
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        job, config = self.job, self.state.config
        deadline = job.created_mono + config.batch_expire_s
        pending_s = job.directives.pending_s
        pending_s = config.batch_pending_s if pending_s is None else pending_s
        rate = job.directives.rows_per_s or config.batch_rows_per_s
        try:
            if not await self._sleep_until(min(job.created_mono + pending_s, deadline)):
                return
            if job.validation_errors:
                self.end(
                    batches.FAILED,
                    batches.failed_error("The input file failed validation."),
                )
                return  # fmt: skip
            job.state = batches.RUNNING
            job.started = job.updated = time.time()
            start, done = time.monotonic(), 0
            slice_end = start + SLICE_S
            fail_after, stall_after = (
                job.directives.fail_after,
                job.directives.stall_after,
            )
            while True:
                now = time.monotonic()
                if now >= deadline:
                    self.end(batches.EXPIRED, batches.expired_error())
                    return
                if fail_after is not None and done >= fail_after:
                    self.end(
                        batches.FAILED,
                        batches.failed_error(
                            "The batch job failed (emulator batch_fail directive or batch_fail_rate)."
                        ),
                    )
                    return  # fmt: skip
                if stall_after is not None and done >= stall_after:
                    await self._sleep_until(deadline)
                    continue
                due = int((now - start) * rate) - done
                if due <= 0:
                    wake = start + (done + 1) / rate
                    await asyncio.sleep(max(0.0, min(wake, deadline) - now))
                    slice_end = time.monotonic() + SLICE_S
                    continue
                item = next(self.source, None)
                if item is None:
                    self.end(batches.SUCCEEDED)
                    return
                self.lines.process(item)
                done += 1
                job.updated = time.time()
                if time.monotonic() >= slice_end:
                    await asyncio.sleep(BREATHE_S)
                    slice_end = time.monotonic() + SLICE_S
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an emulator bug fails the job visibly
            self.end(batches.FAILED, batches.failed_error(f"Internal error: {exc!r}"))

    async def _sleep_until(self, when: float) -> bool:
        """Sleep until `when` (monotonic); False when the job has expired by then."""
        delay = when - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.monotonic() >= self.job.created_mono + self.state.config.batch_expire_s:
            self.end(batches.EXPIRED, batches.expired_error())
            return False
        return True

    def end(self, state: str, error: tuple[int, str] | None = None) -> None:
        """Move to a terminal state once: keep or drop the results, close the input, count it."""
        job = self.job
        if job.terminal:
            return
        now = time.time()
        job.state, job.ended, job.updated, job.error = state, now, now, error
        if state == batches.CANCELLED:
            job.cancelled_at = now
        # Results survive success and cancellation (what was answered so far); an expired job
        # keeps them only on the OpenAI-compatible doors, as OpenAI does (Gemini: no results).
        keep = state in (batches.SUCCEEDED, batches.CANCELLED) or (
            state == batches.EXPIRED and job.door != "gemini"
        )
        self.lines.finish(keep)
        self._close_source()
        self.state.ledger.batch.job_finished(state.removeprefix("BATCH_STATE_"))

    def cancel(self) -> None:
        self.end(batches.CANCELLED, batches.cancelled_error())
        if self.task is not None:
            self.task.cancel()

    def shutdown(self) -> None:
        """The emulator stops: stop the task and drop unfinished results."""
        if self.task is not None:
            self.task.cancel()
        if not self.job.terminal:
            self.lines.finish(False)
            self._close_source()

    def _close_source(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
