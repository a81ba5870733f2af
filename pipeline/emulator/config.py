"""The emulator's settings: one frozen object that the CLI, the tests and `pipeline run --emulator` build."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ("EmulatorConfig",)

DEFAULT_FAULT_MIX: tuple[str, ...] = (
    "429",
    "500",
    "503",
    "504",
    "reset",
    "hang",
    "malformed",
    "truncated",
)


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator listens, bills, limits, slows down and fails.

    Limits (`rpm`, `tpm`, `rpd`) apply per (API key, model); `window_s` is the length of the
    rolling rpm/tpm window (60 s like the real service, shorter in tests). Latency is
    `latency_ms` (the median when `latency_p99_ms` is set: lognormal) plus
    `ms_per_output_token` per output token, seeded by (`seed`, request body) so a given row sees
    the same latency whatever order the client sends in. The rpd window is the service's calendar
    day (midnight America/Los_Angeles) unless `day_window_s` gives a rolling window.
    """

    host: str = "127.0.0.1"
    port: int = 8089
    api_key: str | None = None
    seed: int = 0
    latency_ms: float = 0.0
    latency_p99_ms: float | None = None
    ms_per_output_token: float = 0.0
    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None
    window_s: float = 60.0
    # The rpd window: None is the service's calendar day, which resets at midnight
    # America/Los_Angeles; a number of seconds is a rolling window of that length (for tests).
    day_window_s: float | None = None
    fault_rate: float = 0.0
    fault_mix: tuple[str, ...] = DEFAULT_FAULT_MIX
    hang_s: float = 30.0
    file_processing_s: float = 0.0
    ledger_path: str | None = None
    storage_dir: str | None = None
    # retryDelay (seconds) carried by 429s that come from random faults or a `fail=429` directive
    # without `retry=`.
    fault_retry_s: float = 1.0
    # Requests without any key get 403 as the real service answers; tests of raw HTTP can turn it off.
    require_key: bool = True
    # Seconds the server waits for in-flight requests (e.g. hangs) when it stops.
    shutdown_timeout_s: float = 1.0
    # The day (YYYY-MM-DD) on which model lifecycles are evaluated (shut-down ids answer 404,
    # deprecated ones are routed to newer models); None: today in America/Los_Angeles.
    lifecycle_date: str | None = None
    # Length (base64 characters) of each thoughtSignature on an image model's reply parts: real ones
    # measured about 1.1 MB. 0 gives image replies the short signature of text replies.
    image_signature_chars: int = 1_100_000
    # Service tiers (tiers.py). Flex waits flex_latency_s x [1 - flex_jitter, 1 + flex_jitter] (seeded),
    # at most flex_capacity Flex requests run at once (past it: flex_shed_status, 503 or 429). Priority is
    # served at priority up to priority_allowance_rpm per (key, model) and window (default: 0.3 x rpm when
    # rpm is set, else unlimited), then silently at standard.
    flex_latency_s: float = 2.0
    flex_jitter: float = 0.5
    flex_capacity: int | None = None
    flex_shed_status: int = 503
    priority_allowance_rpm: int | None = None
    # Implicit context caching (implicit.py): repeated prefixes report cachedContentTokenCount.
    implicit_cache: bool = False
    implicit_cache_ttl_s: float = 300.0
    # Batch API on a compressed clock (docs/emulator.md, "Batch API"): seconds a job stays PENDING,
    # lines answered per second per job, seconds after which an unfinished job ends EXPIRED (48 h on
    # the service), the enqueued-token quota per (key, model) (None: unlimited), concurrent jobs per
    # key, the input file limit, and the probability that a job ends FAILED.
    batch_pending_s: float = 1.0
    batch_rows_per_s: float = 1000.0
    batch_expire_s: float = 172800.0
    batch_enqueued_tokens: int | None = None
    batch_max_concurrent: int = 100
    batch_max_input_bytes: int = 2 * 1024**3
    batch_fail_rate: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(
                f"fault_rate must be between 0 and 1, got {self.fault_rate}"
            )
        unknown = [kind for kind in self.fault_mix if kind not in DEFAULT_FAULT_MIX]
        if unknown or not self.fault_mix:
            raise ValueError(
                f"fault_mix takes kinds from {', '.join(DEFAULT_FAULT_MIX)}; got {', '.join(unknown) or 'none'}"
            )
        for name in ("window_s", "day_window_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.lifecycle_date is not None:
            try:
                date.fromisoformat(self.lifecycle_date)
            except ValueError:
                raise ValueError(
                    f"lifecycle_date must be a date such as 2026-12-01, got {self.lifecycle_date!r}"
                ) from None
        if self.image_signature_chars < 0:
            raise ValueError(
                f"image_signature_chars must not be negative, got {self.image_signature_chars}"
            )

        for name in (
            "latency_ms",
            "ms_per_output_token",
            "hang_s",
            "file_processing_s",
            "fault_retry_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"{name} must not be negative, got {getattr(self, name)}"
                )
        for name in ("rpm", "tpm", "rpd"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value}")
        if self.latency_p99_ms is not None and self.latency_p99_ms < self.latency_ms:
            raise ValueError("latency_p99_ms must not be below latency_ms (the median)")
        self._check_tiers()
        self._check_batches()

    def _check_tiers(self) -> None:
        if self.flex_latency_s < 0 or self.implicit_cache_ttl_s < 0:
            raise ValueError(
                "flex_latency_s and implicit_cache_ttl_s must not be negative"
            )
        if not 0.0 <= self.flex_jitter <= 1.0:
            raise ValueError(
                f"flex_jitter must be between 0 and 1, got {self.flex_jitter}"
            )
        if self.flex_shed_status not in (429, 503):
            raise ValueError(
                f"flex_shed_status must be 429 or 503, got {self.flex_shed_status}"
            )
        for name in ("flex_capacity", "priority_allowance_rpm"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")

    def _check_batches(self) -> None:
        """The batch settings (batches.py, batch_worker.py)."""
        for name in ("batch_pending_s",):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"{name} must not be negative, got {getattr(self, name)}"
                )
        for name in ("batch_rows_per_s", "batch_expire_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("batch_max_concurrent", "batch_max_input_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be at least 1, got {getattr(self, name)}"
                )
        if self.batch_enqueued_tokens is not None and self.batch_enqueued_tokens <= 0:
            raise ValueError(
                f"batch_enqueued_tokens must be a positive number, got {self.batch_enqueued_tokens}"
            )
        if not 0.0 <= self.batch_fail_rate <= 1.0:
            raise ValueError(
                f"batch_fail_rate must be between 0 and 1, got {self.batch_fail_rate}"
            )
