"""Every error the pipeline raises, classified by what the caller does next.

```text
PipelineError                 base class, never raised itself
├── SpecError                 bad spec or usage; names the file, the key and what was expected  -> exit 2, nothing sent
├── RowInvalid                a row cannot become a request (bad JSON, missing field or media)   -> status "invalid"
├── AttemptError              one request failed; carries .code, .retryable, .retry_after
│   ├── TransportError        connect or read timeout, disconnect (translated from aiohttp)        -> retry
│   ├── RateLimited           429 / RESOURCE_EXHAUSTED                                            -> retry after the hint
│   │   └── QuotaExhausted    a per-day quota or a spend cap is used up                           -> stops the run (exit 3)
│   ├── ServerError           5xx / UNAVAILABLE / INTERNAL                                        -> retry
│   ├── ReplyInvalid          reply does not parse or fails the response schema                   -> retry, then "failed"
│   └── RequestRejected       any other 4xx (INVALID_ARGUMENT, ...)                               -> "failed" at once
│       ├── FileGone          an uploaded file the row uses expired or was deleted                -> upload again, retry
│       │   └── CacheGone     the context cache the request names expired or was deleted          -> create again, retry
│       └── RunRejected       model not found, FAILED_PRECONDITION (billing, region)              -> stops the run (exit 2)
├── CredentialsError          key missing or refused (401/403); stops the run (no point sending more)
├── OutputError               the run directory cannot be written (disk full, permissions, locked) -> stops the run
└── RunStopped                ends the run early; rows not sent stay pending; the run can be resumed
    ├── BudgetExhausted       -> exit 3
    ├── DailyLimitReached     -> exit 3
    ├── ProviderQuotaUsedUp   the provider's daily quota or spend cap (from QuotaExhausted) -> exit 3
    ├── RunRefused            the provider refuses the whole run (from RunRejected, or the circuit breaker) -> exit 2
    ├── Detached              batch mode with --detach: jobs submitted and still running on the server -> exit 3
    └── Interrupted           SIGINT / SIGTERM -> exit 130
```

`AttemptError` never leaves a worker: the worker turns it into an `Outcome`, except the ones marked
`stops_run`, which become a `RunStopped`. Only `RunStopped`, `CredentialsError` and `OutputError` cross the task
group; each `RunStopped` carries its `exit_code`, and `pipeline.api.exit_code()` maps
everything to exit codes, for the CLI and the Python API alike.
Messages never contain an API key: providers build them from status codes and the server's message only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.records import Usage

__all__ = (
    "AttemptError",
    "BudgetExhausted",
    "CacheGone",
    "CredentialsError",
    "DailyLimitReached",
    "Detached",
    "Interrupted",
    "OutputError",
    "PipelineError",
    "RateLimited",
    "ReplyInvalid",
    "RequestRejected",
    "RowInvalid",
    "RunStopped",
    "ServerError",
    "SpecError",
    "TransportError",
)


class PipelineError(Exception):
    """Base class of every error raised on purpose by the pipeline."""


class SpecError(PipelineError):
    """The job spec or the command line is wrong; raised before anything is sent."""

    def __init__(
        self, message: str, *, file: str | None = None, key: str | None = None
    ) -> None:
        self.file = file
        self.key = key
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class RowInvalid(PipelineError):
    """A row cannot be turned into a request; it is recorded as `invalid` and the run goes on."""

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


class AttemptError(PipelineError):
    """One request failed. `code` is the provider's status (e.g. RESOURCE_EXHAUSTED) or our own reason."""

    retryable: bool = True
    stops_run: bool = (
        False  # the error concerns the whole run: stop it rather than fail the row
    )

    def __init__(
        self,
        message: str,
        *,
        code: str,
        http_status: int | None = None,
        retry_after: float | None = None,
        usage: Usage | None = None,
    ) -> None:
        self.code = code
        self.usage = usage  # a reply that was received (and billed) but unusable still costs money
        self.http_status = http_status
        self.retry_after = retry_after
        super().__init__(message)


class TransportError(AttemptError):
    """Connect or read timeout, reset or refused connection, truncated body."""


class RateLimited(AttemptError):
    """429 / RESOURCE_EXHAUSTED; `retry_after` holds the server's hint in seconds when it gave one.

    `quota_ids` are the quotas the server says were exceeded (Google's QuotaFailure): a 429 that names none, on
    a Flex request, is Flex at capacity rather than a rate limit."""

    quota_ids: tuple[str, ...] = ()


class ServerError(AttemptError):
    """5xx: INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, bad gateway."""


class ReplyInvalid(AttemptError):
    """The reply was received but is unusable: malformed JSON, or fails the response schema."""


class RequestRejected(AttemptError):
    """Any other 4xx: the same request would be refused again, so the row fails at once."""

    retryable = False


class FileGone(RequestRejected):
    """A file the request refers to (Files API) expired or was deleted: upload it again and retry the row.

    `files` names the files the server mentioned, when it did; empty means "some file of this request"."""

    def __init__(
        self, message: str, *, files: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        self.files = files
        super().__init__(message, **kwargs)


class CacheGone(FileGone):
    """The explicit context cache a request names expired or was deleted (403 "CachedContent not found"): the
    run creates it again and the row is retried."""


class RunRejected(RequestRejected):
    """A refusal that every row would get: the model does not exist or is retired, billing or the region is
    not enabled (FAILED_PRECONDITION). The run stops (`RunRefused`) instead of failing each row."""

    stops_run = True


class QuotaExhausted(RateLimited):
    """A 429 that waiting minutes will not cure: a per-day quota (QuotaFailure names a PerDay quota, or the
    429 carries only a Help link) or a spend cap. The run stops (`ProviderQuotaUsedUp`), resumable."""

    retryable = False
    stops_run = True


class CredentialsError(PipelineError):
    """The API key or token is missing or refused (401/403); sending more would only fail the same way."""


class OutputError(PipelineError):
    """The run directory cannot be used: not writable, disk full, or held by another run."""


class RunStopped(PipelineError):
    """The run ended before every row had an outcome; running it again resumes it. `exit_code` is the
    contract's code for this way of stopping."""

    exit_code: int = 3


class BudgetExhausted(RunStopped):
    """No further request fits under `budget_usd`."""


class DailyLimitReached(RunStopped):
    """`requests_per_day` has been used up."""


class ProviderQuotaUsedUp(RunStopped):
    """The provider's daily quota or a spend cap is used up: resume after it resets (Google: midnight Pacific)."""


class RunRefused(RunStopped):
    """The provider refuses the whole run (model, billing, region, or the first requests all failing the same
    way): fix the cause, then run again to resume."""

    exit_code = 2


class Detached(RunStopped):
    """Batch mode with `--detach`: every row is in a batch job that is still running on the provider's side;
    running the job again collects them (exit code 3: not finished, resumable)."""


class Interrupted(RunStopped):
    """SIGINT or SIGTERM."""

    exit_code = 130
