"""The emulator's settings: one frozen object that the CLI, the tests and `pipeline run --emulator` build."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_FAULT_MIX: tuple[str, ...] = ("429", "500", "503", "504", "reset", "hang", "malformed", "truncated")


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
