"""One row, start to finish: prepare, then attempts (admit, send, parse) until a reply, a give-up or a stop.

`AttemptError` never leaves here as such: every failure becomes the row's `Outcome`, except the ones that
concern the whole run (`stops_run`: a retired model, billing, a used-up daily quota, or the circuit breaker),
which become a `RunStopped`; so do `BudgetExhausted`, `DailyLimitReached` and a stop requested meanwhile. A row
that ends in a `RunStopped` has no outcome: it stays pending and the next run sends it. `CredentialsError` (a
refused key fails every row the same way) also crosses this boundary.

Money: each attempt holds its worst case in the budget for exactly as long as it is in flight
(`async with budget.hold(...)`), and books what it was billed before the hold is released.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio

from pipeline.catalog import Price, cost_usd, max_image_tokens, worst_case_usd
from pipeline.errors import (
    AttemptError,
    FileGone,
    ProviderQuotaUsedUp,
    RateLimited,
    RequestRejected,
    RowInvalid,
    RunRefused,
    RunStopped,
)
from pipeline.policy import Budget, Limits, RetryPolicy
from pipeline.providers import Provider
from pipeline.records import ImageFile, Outcome, Prompt, Reply, Row, Usage
from pipeline.results import write_image
from pipeline.transport import Transport

from ._attempts import AttemptLog
from ._progress import RunStats
from ._tiers import RowTier, Tiers

PreparePrompt = Callable[[Row], Awaitable[Prompt]]
# Forget the uploads a gone file error names (or the row's own, when it names none); True when any went.
ForgetFiles = Callable[[tuple[str, ...], Prompt], bool]

# The circuit breaker: this many requests in a row, before any reply, all refused the same non-retryable way.
BREAKER_THRESHOLD = 20


class RunGate:
    """Whether new requests may be sent. Once a stop is requested no attempt starts (a row waiting for its
    turn, or for a retry, stays pending), while the requests already in flight finish and are journaled."""

    __slots__ = ("stopped",)

    def __init__(self) -> None:
        self.stopped: RunStopped | None = None

    def check(self) -> None:
        if self.stopped is not None:
            raise self.stopped


class Breaker:
    """Trips when the first `threshold` requests of a session are all refused with the same code (a schema the
    model rejects, a parameter it does not take): the other rows would only fail the same way, one by one.
    Any reply disarms it for the rest of the session; retryable errors neither count nor disarm."""

    def __init__(self, threshold: int = BREAKER_THRESHOLD) -> None:
        self.threshold = threshold
        self.armed = threshold > 0
        self._code: str | None = None
        self._count = 0

    def on_reply(self) -> None:
        self.armed = False

    def on_rejected(self, error: RequestRejected) -> RunRefused | None:
        if not self.armed:
            return None
        if error.code != self._code:
            self._code, self._count = error.code, 0
        self._count += 1
        if self._count < self.threshold:
            return None
        self.armed = False
        return RunRefused(
            f"the first {self._count} requests were all refused with {error.code} ({error}); "
            "fix the job spec, then run it again to resume (rows not sent stay pending)"
        )


@dataclass(slots=True)
class _Tally:
    """What a row's attempts cost so far: attempts sent, usage and dollars billed for unusable replies."""

    attempts: int = 0
    paid: Usage = field(default_factory=Usage)
    paid_cost: float = 0.0
    latency_ms: float | None = None
    tier: RowTier = field(default_factory=RowTier)


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
    forget_files: ForgetFiles = lambda names, prompt: False
    gate: RunGate = field(default_factory=RunGate)
    breaker: Breaker = field(default_factory=Breaker)
    attempt_log: AttemptLog = field(default_factory=AttemptLog)  # no journal: a no-op
    tiers: Tiers = field(default_factory=Tiers)
    flex_timeout_s: float = (
        900.0  # an attempt sent at Flex (request_timeout_s when the spec sets it)
    )

    async def run(self, row: Row) -> Outcome:
        """The row's outcome. Raises `RunStopped` when the run stops before the row could end (it stays
        pending), and `CredentialsError` when the provider refuses the key."""
        started_at = datetime.now(UTC)
        ending = _Ending(row, started_at, self.keep_fields)
        try:
            prompt = await self._prepare(row)
        except RowInvalid as exc:
            return ending.outcome(
                status="invalid",
                error_code="INVALID_ROW",
                error_message=f"line {row.line}: {exc.reason}",
            )
        except AttemptError as exc:  # an upload that kept failing
            return ending.outcome(
                status="failed",
                error_code=exc.code,
                error_message=f"preparing the row's media: {exc}",
            )
        worst = self._worst_case(prompt)
        tally = _Tally()
        while True:
            try:
                reply, cost = await self._attempt(prompt, worst, tally)
            except AttemptError as exc:
                if (
                    isinstance(exc, FileGone)
                    and tally.attempts < self.policy.max_attempts
                    and self.forget_files(exc.files, prompt)
                ):
                    prompt = await self._prepare(
                        row
                    )  # upload the gone files again, then retry at once
                    continue
                delay = self._after_failure(exc, tally)
                if delay is None:
                    return ending.failed(exc, tally, self._cost(tally.paid_cost))
                self.stats.retries_by_cause[exc.code] += 1
                await anyio.sleep(delay)
                continue
            return await self._finish(ending, reply, cost, tally, prompt)

    async def _attempt(
        self, prompt: Prompt, worst: float, tally: _Tally
    ) -> tuple[Reply, float | None]:
        """One request under a budget hold. Returns the reply and its cost, or raises its `AttemptError`."""
        tier = self.tiers.choose(prompt.generation.service_tier, tally.tier)
        await self.tiers.before_send(tier)
        async with self.budget.hold(worst) as hold:
            await self.limits.admit(prompt.estimated_input_tokens)
            self.gate.check()  # a stop requested while this row waited: send nothing more
            timeout = self.flex_timeout_s if tier == "flex" else self.timeout_s
            request = self.provider.build(
                self.tiers.at(prompt, tier), timeout_s=timeout
            )
            tally.attempts += 1
            self.stats.request_sent()
            self.stats.in_flight += 1
            t0 = time.perf_counter()
            ended: Reply | AttemptError | None = None  # None: cancelled, not journaled
            try:
                response = await self.transport.send(request)
                reply = ended = self.provider.parse(response, prompt)
                # A 4K image is ~5 MB of base64: let the raw body go before the images are written.
                del response
            except AttemptError as exc:
                ended = exc
                if (
                    exc.usage is not None
                ):  # a billed reply that could not be used: priced once, here
                    billed = cost_usd(exc.usage, self.price) or 0.0
                    hold.bill(billed)
                    tally.paid = tally.paid + exc.usage
                    tally.paid_cost += billed
                raise
            finally:
                self.stats.in_flight -= 1
                tally.latency_ms = (time.perf_counter() - t0) * 1000.0
                if isinstance(ended, AttemptError):
                    # Only failed requests are journaled one by one: the request that ends a row is in its
                    # outcome (start, end, status, tier), and the report rebuilds it from there. Journaling every
                    # request cost a fifth of the throughput at zero latency.
                    self.attempt_log.ended(
                        prompt.row_id, tally.attempts, tally.latency_ms, ended
                    )
            # Priced at the tier the reply says it was served at (a Priority request may be served at Standard).
            cost = cost_usd(
                reply.usage,
                self.price,
                images=len(reply.images),
                tier=reply.service_tier,
            )
            hold.bill(cost)
        self.breaker.on_reply()
        self.limits.rate.on_accepted()
        self.tiers.replied(tier, (tally.latency_ms or 0.0) / 1000.0)
        return reply, cost

    def _after_failure(self, exc: AttemptError, tally: _Tally) -> float | None:
        """Seconds until the next attempt, or None to give up. Raises the `RunStopped` of a run-level error."""
        if self.tiers.refused(exc, tally.tier):
            # Flex at capacity: the Flex tier backs off, the pace does not change, max_attempts is not spent.
            return self.tiers.after_refusal(exc, tally.tier)
        if isinstance(exc, RateLimited):
            self.limits.rate.on_rate_limited(exc.retry_after)
            self.stats.rate_limited = self.limits.rate.rate_limited
        if exc.stops_run:
            stop = (
                ProviderQuotaUsedUp(
                    f"{exc.code}: {exc}; run the job again to resume once it resets"
                )
                if isinstance(exc, RateLimited)
                else RunRefused(
                    f"{exc.code}: {exc}; fix the cause, then run the job again to resume"
                )
            )
            raise stop from exc
        if isinstance(exc, RequestRejected) and not isinstance(exc, FileGone):
            tripped = self.breaker.on_rejected(exc)
            if tripped is not None:
                raise tripped from exc
        decision = self.policy.decide(exc, tally.attempts - tally.tier.refusals)
        return decision.delay_s if decision.retry else None

    async def _finish(
        self,
        ending: _Ending,
        reply: Reply,
        reply_cost: float | None,
        tally: _Tally,
        prompt: Prompt,
    ) -> Outcome:
        await self.limits.correct_tokens(
            prompt.estimated_input_tokens, reply.usage.input_tokens
        )
        images: list[ImageFile] = []
        for index, image in enumerate(reply.images):
            images.append(
                await anyio.to_thread.run_sync(
                    write_image, self.run_dir, ending.row.id, index, image
                )
            )
        total_cost = (
            None
            if reply_cost is None and self.price is None
            else tally.paid_cost + (reply_cost or 0.0)
        )
        return ending.outcome(
            status=reply.status,
            usage=tally.paid + reply.usage if tally.attempts > 1 else reply.usage,
            text=reply.text,
            json=reply.json,
            images=tuple(images),
            function_calls=reply.function_calls,
            finish_reason=reply.finish_reason,
            model_version=reply.model_version,
            cost_usd=total_cost,
            attempts=tally.attempts,
            latency_ms=tally.latency_ms,
            error_code=reply.error_code,
            error_message=reply.error_message,
            thoughts=reply.thoughts,
            service_tier=reply.service_tier,
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

    def _worst_case(self, prompt: Prompt) -> float:
        if self.budget.limit is None:
            return 0.0  # no cap: nothing to reserve
        return worst_case_usd(
            self.price,
            input_tokens=prompt.estimated_input_tokens,
            max_output_tokens=prompt.generation.max_output_tokens
            or self.max_output_tokens,
            max_image_tokens=max_image_tokens(prompt.model) if self.image_output else 0,
            # Priority's dearer rates; a Flex request may fall back to (and "auto" pick) Standard.
            tier="priority" if prompt.generation.service_tier == "priority" else None,
        )

    def _cost(self, paid_cost: float) -> float | None:
        return None if self.price is None else paid_cost


@dataclass(frozen=True, slots=True)
class _Ending:
    """What every outcome of a row shares: its id, line, start and kept fields."""

    row: Row
    started_at: datetime
    keep_fields: tuple[str, ...]

    def outcome(self, **fields: object) -> Outcome:
        kept = {name: self.row.fields.get(name) for name in self.keep_fields}
        return Outcome(
            id=self.row.id,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            line=self.row.line,
            kept=kept,
            **fields,  # type: ignore[arg-type]
        )

    def failed(self, exc: AttemptError, tally: _Tally, cost: float | None) -> Outcome:
        return self.outcome(
            status="failed",
            usage=tally.paid,
            cost_usd=cost,
            attempts=tally.attempts,
            latency_ms=tally.latency_ms,
            error_code=exc.code,
            error_message=str(exc),
        )
