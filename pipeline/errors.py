"""Every error the pipeline raises, classified by what the caller does next.

```text
PipelineError                 base class, never raised itself
├── SpecError                 bad spec or usage; names the file, the key and what was expected  -> exit 2, nothing sent
├── RowInvalid                a row cannot become a request (bad JSON, missing field or media)   -> status "invalid"
├── AttemptError              one request failed; carries .code, .retryable, .retry_after
│   ├── TransportError        connect or read timeout, disconnect (translated from aiohttp)        -> retry
│   ├── RateLimited           429 / RESOURCE_EXHAUSTED                                            -> retry after the hint
│   ├── ServerError           5xx / UNAVAILABLE / INTERNAL                                        -> retry
│   ├── ReplyInvalid          reply does not parse or fails the response schema                   -> retry, then "failed"
│   └── RequestRejected       any other 4xx (INVALID_ARGUMENT, ...)                               -> "failed" at once
├── CredentialsError          key missing or refused (401/403); stops the run (no point sending more)
├── OutputError               the run directory cannot be written (disk full, permissions, locked) -> stops the run
└── RunStopped                ends the run early; the run can be resumed
    ├── BudgetExhausted       -> exit 3
    ├── DailyLimitReached     -> exit 3
    └── Interrupted           SIGINT / SIGTERM -> exit 130
```

`AttemptError` never leaves a worker: the worker turns it into an `Outcome`. Only `RunStopped`,
`CredentialsError` and `OutputError` cross the task group; `pipeline.api.exit_code()` maps them to exit
codes, for the CLI and the Python API alike.
Messages never contain an API key: providers build them from status codes and the server's message only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.records import Usage

__all__ = (
    "AttemptError",
    "BudgetExhausted",
    "CredentialsError",
    "DailyLimitReached",
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
    """429 / RESOURCE_EXHAUSTED; `retry_after` holds the server's hint in seconds when it gave one."""


class ServerError(AttemptError):
    """5xx: INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, bad gateway."""


class ReplyInvalid(AttemptError):
    """The reply was received but is unusable: malformed JSON, or fails the response schema."""


class RequestRejected(AttemptError):
    """Any other 4xx: the same request would be refused again, so the row fails at once."""

    retryable = False


class CredentialsError(PipelineError):
    """The API key or token is missing or refused (401/403); sending more would only fail the same way."""


class OutputError(PipelineError):
    """The run directory cannot be used: not writable, disk full, or held by another run."""


class RunStopped(PipelineError):
    """The run ended before every row had an outcome; running it again resumes it."""


class BudgetExhausted(RunStopped):
    """No further request fits under `budget_usd`."""


class DailyLimitReached(RunStopped):
    """`requests_per_day` has been used up."""


class Interrupted(RunStopped):
    """SIGINT or SIGTERM."""
