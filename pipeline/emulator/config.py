"""The emulator's settings: one frozen object that the CLI, the tests and `pipeline run --emulator` build."""

from __future__ import annotations

from dataclasses import dataclass

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

    Limits (`rpm`, `tpm`, `rpd`) apply per (API key, model) over rolling windows; `window_s` is the
    length of the rpm/tpm window (60 s like the real service, shorter in tests), `day_window_s` the
    rpd one. Latency is `latency_ms` (the median when `latency_p99_ms` is set: lognormal) plus
    `ms_per_output_token` per output token, seeded by (`seed`, request body) so a given row sees
    the same latency whatever order the client sends in.
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
    day_window_s: float = 86400.0
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
        from .batches import check_config

        check_config(self)
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
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
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
