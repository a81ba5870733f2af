"""One row, start to finish: admit, send, parse, retry, and the row's `Outcome`.

`AttemptError` never leaves here: every failure becomes a value. Only the errors that stop a whole run cross
this boundary: `CredentialsError` (a refused key fails every row the same way), `BudgetExhausted` and
`DailyLimitReached` (the row stays pending and the run is resumable).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio

from pipeline.catalog import Price, cost_usd, worst_case_usd
from pipeline.errors import AttemptError, RateLimited, RequestRejected, RowInvalid
from pipeline.policy import Budget, Limits, RetryPolicy
from pipeline.providers import Provider
from pipeline.records import ImageFile, Outcome, Prompt, Reply, Row, Usage
from pipeline.results import write_image
from pipeline.transport import Transport

from ._attempts import AttemptLog
from ._progress import RunStats

PreparePrompt = Callable[[Row], Awaitable[Prompt]]

# Largest image any image model returns (3.1 Flash Image at 4K: 2,520 tokens): what a budget reserves per image.
MAX_IMAGE_TOKENS = 2_520


@dataclass(slots=True)
class RowRunner:
    """Everything a worker needs to take one row to its outcome; shared by all workers of a run."""

    provider: Provider
    transport: Transport
    prepare: PreparePrompt
    limits: Limits
    budget: Budget
    policy: RetryPolicy
    price: Price | None
    stats: RunStats
    run_dir: Path
    keep_fields: tuple[str, ...]
    timeout_s: float
    max_output_tokens: int
    image_output: bool
    forget_files: Callable[[str], bool] = lambda message: False
    attempt_log: AttemptLog = field(default_factory=AttemptLog)  # no journal: a no-op

    async def run(self, row: Row) -> Outcome:
        started_at = datetime.now(UTC)
        kept = {name: row.fields.get(name) for name in self.keep_fields}
        try:
            prompt = await self._prepare(row)
        except RowInvalid as exc:
            return Outcome(
                id=row.id,
                status="invalid",
                error_code="INVALID_ROW",
                error_message=f"line {row.line}: {exc.reason}",
                started_at=started_at,
                finished_at=datetime.now(UTC),
                line=row.line,
                kept=kept,
            )
        except AttemptError as exc:  # an upload that kept failing
            return Outcome(
                id=row.id,
                status="failed",
                error_code=exc.code,
                error_message=f"preparing the row's media: {exc}",
                started_at=started_at,
                finished_at=datetime.now(UTC),
                line=row.line,
                kept=kept,
            )
        worst = (
            0.0  # no cap: nothing to reserve
            if self.budget.limit is None
            else worst_case_usd(
                self.price,
                input_tokens=prompt.estimated_input_tokens,
                max_output_tokens=prompt.generation.max_output_tokens
                or self.max_output_tokens,
                max_image_tokens=MAX_IMAGE_TOKENS if self.image_output else 0,
            )
        )
        paid = Usage()
        paid_cost = 0.0
        attempts = 0
        latency_ms: float | None = None
        while True:
            held = await self.budget.reserve(worst)
            holding = True
            billed: float | None = None
            try:
                await self.limits.admit(prompt.estimated_input_tokens)
                request = self.provider.build(prompt, timeout_s=self.timeout_s)
                attempts += 1
                self.stats.request_sent()
                self.stats.in_flight += 1
                t0 = time.perf_counter()
                ended: Reply | AttemptError | None = None
                try:
                    response = await self.transport.send(request)
                    reply = ended = self.provider.parse(response, prompt)
                    # A 4K image is ~5 MB of base64: let the raw body go before the images are written.
                    del response
                except AttemptError as exc:
                    ended = exc
                    raise
                finally:
                    self.stats.in_flight -= 1
                    latency_ms = (time.perf_counter() - t0) * 1000.0
                    self.attempt_log.ended(row.id, attempts, latency_ms, ended)
                # Booked before the reservation is released, so spend plus holds never dips below the truth.
                billed = cost_usd(reply.usage, self.price, images=len(reply.images))
            except AttemptError as exc:
                if exc.usage is not None:
                    paid = paid + exc.usage
                    billed = cost_usd(exc.usage, self.price) or 0.0
                    paid_cost += billed
                if isinstance(exc, RateLimited):
                    self.limits.rate.on_rate_limited(exc.retry_after)
                    self.stats.rate_limited = self.limits.rate.rate_limited
                decision = self.policy.decide(exc, attempts)
                if (
                    not decision.retry
                    and isinstance(exc, RequestRejected)
                    and attempts < self.policy.max_attempts
                    and self.forget_files(str(exc))
                ):
                    # A file the row uses expired or was deleted: upload it again and retry.
                    self.budget.settle(held, billed)
                    holding = False
                    prompt = await self._prepare(row)
                    continue
                if not decision.retry:
                    return Outcome(
                        id=row.id,
                        status="failed",
                        usage=paid,
                        cost_usd=self._cost(paid_cost),
                        attempts=attempts,
                        latency_ms=latency_ms,
                        error_code=exc.code,
                        error_message=str(exc),
                        started_at=started_at,
                        finished_at=datetime.now(UTC),
                        line=row.line,
                        kept=kept,
                    )
                self.stats.retries_by_cause[exc.code] += 1
                self.budget.settle(held, billed)
                holding = False
                await anyio.sleep(decision.delay_s)
                continue
            finally:
                if holding:
                    self.budget.settle(held, billed)
            self.limits.rate.on_accepted()
            return await self._finish(
                row,
                reply,
                billed,
                paid,
                paid_cost,
                attempts,
                latency_ms,
                started_at,
                kept,
                prompt,
            )

    async def _finish(
        self,
        row: Row,
        reply: Reply,
        reply_cost: float | None,
        paid: Usage,
        paid_cost: float,
        attempts: int,
        latency_ms: float | None,
        started_at: datetime,
        kept: dict[str, object],
        prompt: Prompt,
    ) -> Outcome:
        await self.limits.correct_tokens(
            prompt.estimated_input_tokens, reply.usage.input_tokens
        )
        images: list[ImageFile] = []
        for index, image in enumerate(reply.images):
            images.append(
                await anyio.to_thread.run_sync(
                    write_image, self.run_dir, row.id, index, image
                )
            )
        total_cost = (
            None
            if reply_cost is None and self.price is None
            else paid_cost + (reply_cost or 0.0)
        )
        return Outcome(
            id=row.id,
            status=reply.status,
            usage=paid + reply.usage if attempts > 1 else reply.usage,
            text=reply.text,
            json=reply.json,
            images=tuple(images),
            function_calls=reply.function_calls,
            finish_reason=reply.finish_reason,
            model_version=reply.model_version,
            cost_usd=total_cost,
            attempts=attempts,
            latency_ms=latency_ms,
            error_code=reply.error_code,
            error_message=reply.error_message,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            line=row.line,
            kept=kept,
        )

    async def _prepare(self, row: Row) -> Prompt:
        """Build the row's prompt; media uploads that fail for a passing reason are retried."""
        tries = 0
        while True:
            try:
                return await self.prepare(row)
            except AttemptError as exc:
                tries += 1
                decision = self.policy.decide(exc, tries)
                if not decision.retry:
                    raise
                self.stats.retries_by_cause[f"upload:{exc.code}"] += 1
                await anyio.sleep(decision.delay_s)

    def _cost(self, paid_cost: float) -> float | None:
        return None if self.price is None else paid_cost
