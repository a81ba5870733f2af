"""The scenarios of the peer suite and the scale they run at (full: about 25 minutes; quick: a smoke run).

Every scenario holds equal across its tools: the rows and their ids, the emulator's settings, the client limits
(90% of the emulator's, or twice them where the scenario says so), concurrency, attempts, the request timeout
and the log level. Scenarios whose run time is set by the emulator's limits or latencies (not by client CPU) run
their tools side by side, each against its own emulator process, so the suite fits its time budget; the
CPU-bound ones (many rows, image payloads) run one tool at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

OURS = "ours-openai"
TOOLS = ("ours-openai", "ours-gemini", "curator", "litellm", "plain")
TEXT_TOOLS = TOOLS
MANY_ROWS_TOOLS = (
    "ours-openai",
    "curator",
    "litellm",
    "plain",
)  # the gemini kind's reference costs 4 minutes
IMAGE_TOOLS = ("ours-openai", "ours-gemini", "plain")
MODEL = "gemini-3.5-flash-lite"  # current on every door (3.1 Flash-Lite Preview was shut down 2026-05-25)
HEADROOM = 0.9  # client limits sit at 90% of the emulator's


@dataclass(frozen=True, slots=True)
class Scale:
    """How big the suite is: the emulator's request limit per window and the row counts."""

    window_s: float
    server_limit: int  # requests per window, per key and model
    latency_ms: float
    latency_p99_ms: float
    rows: int  # rows of the rate-limited scenarios
    rows_over_limit: (
        int  # rows of the 2x-limits scenario (must exceed one window's limit)
    )
    many_rows: int  # the "200,000 short rows" scenario
    many_rows_cap_s: (
        float  # a tool still running then is stopped and its figures say so
    )
    image_rows: int
    slow_s: float  # latency of the slow tail
    cap_s: float  # hard cap of any other run
    nohint_cap_s: float  # cap of the hintless-429 scenario

    @property
    def server_rpm(self) -> float:
        return self.server_limit * 60.0 / self.window_s


FULL = Scale(
    window_s=60.0,
    server_limit=1200,
    latency_ms=300.0,
    latency_p99_ms=1500.0,
    rows=1500,
    rows_over_limit=2000,
    many_rows=200_000,
    many_rows_cap_s=150.0,
    image_rows=400,
    slow_s=60.0,
    cap_s=420.0,
    nohint_cap_s=240.0,
)

QUICK = Scale(
    window_s=20.0,
    server_limit=300,
    latency_ms=300.0,
    latency_p99_ms=1500.0,
    rows=100,
    rows_over_limit=400,
    many_rows=5_000,
    many_rows_cap_s=15.0,
    image_rows=40,
    slow_s=10.0,
    cap_s=90.0,
    nohint_cap_s=40.0,
)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario: the emulator's flags, the rows, the client settings and how the run is driven.

    :param directive: an `[[emu:...]]` block appended to the prompt of every `directive_every`-th row.
    :param client_rpm: the client limit in requests per minute (None: no limit, the emulator has none).
    :param kill_at: kill -9 the tool when this fraction of rows has a 200 in the ledger, then run it again.
    :param poll_s: seconds between ledger samples (None: only time to first request and the end).
    """

    name: str
    title: str
    what: str
    tools: tuple[str, ...]
    rows: int
    emulator_flags: tuple[str, ...]
    client_rpm: float | None
    concurrency: int = 32
    max_attempts: int = 5
    timeout_s: float = 30.0
    directive: str = ""
    directive_every: int = 0
    images: bool = False
    parallel: bool = True
    kill_at: float | None = None
    poll_s: float | None = 1.0
    cap_s: float = 420.0
    server_rpm: float | None = None  # for the plots and the achieved-rate column
    notes: tuple[str, ...] = field(default=())


def scenarios(scale: Scale) -> list[Scenario]:
    """Every scenario at `scale`, in the order the suite runs them."""
    window = ("--window", f"{scale.window_s:g}")
    latency = (
        "--latency-ms",
        f"{scale.latency_ms:g}",
        "--latency-p99-ms",
        f"{scale.latency_p99_ms:g}",
    )
    limited = ("--rpm", str(scale.server_limit), *window, *latency)
    rpm = HEADROOM * scale.server_rpm
    base = Scenario(
        name="",
        title="",
        what="",
        tools=TEXT_TOOLS,
        rows=scale.rows,
        emulator_flags=limited,
        client_rpm=rpm,
        cap_s=scale.cap_s,
        server_rpm=scale.server_rpm,
    )
    every_slow = 100  # 1% of rows
    return [
        replace(
            base,
            name="steady",
            title="Steady state",
            what=f"{scale.rows:,} rows; client limits at 90% of the emulator's; lognormal latency.",
        ),
        replace(
            base,
            name="limits-2x-hint",
            title="Client limits at twice the server's, 429s with a retry hint",
            what=(
                f"{scale.rows_over_limit:,} rows; client limits at 2x the emulator's; the emulator's 429s carry "
                "RetryInfo.retryDelay and Retry-After."
            ),
            rows=scale.rows_over_limit,
            client_rpm=2 * scale.server_rpm,
        ),
        replace(
            base,
            name="limits-2x-nohint",
            title="Client limits at twice the server's, 429s without a hint",
            what=(
                f"{scale.rows_over_limit // 2:,} rows; client limits at 2x the emulator's; every row's first attempt is answered "
                "429 with neither RetryInfo nor Retry-After (directive `[[emu:fail=429x1,retry=none]]`: the "
                "emulator has no switch for hintless 429s on its rate-limit path, whose 429s keep their hint)."
            ),
            rows=scale.rows_over_limit
            // 2,  # two admitted requests a row: as many as the hint scenario
            client_rpm=2 * scale.server_rpm,
            directive="[[emu:fail=429x1,retry=none]]",
            directive_every=1,
            cap_s=min(scale.cap_s, scale.nohint_cap_s),
        ),
        replace(
            base,
            name="faults",
            title="Faults: 2% 5xx, 0.5% hangs",
            what=(
                f"{scale.rows:,} rows; `--fault-rate 0.025 --fault-mix 500,503,500,503,hang` (2% 500/503, "
                "0.5% hangs of 120 s, longer than the 30 s timeout)."
            ),
            emulator_flags=(
                *limited,
                "--fault-rate",
                "0.025",
                "--fault-mix",
                "500,503,500,503,hang",
                "--hang-s",
                "120",
            ),
        ),
        replace(
            base,
            name="slow-tail",
            title=f"Slow tail: 1% of replies take {scale.slow_s:g} s",
            what=(
                f"{scale.rows:,} rows; every 100th prompt carries `[[emu:latency={scale.slow_s:g}]]`; "
                f"the timeout is {scale.slow_s * 1.5:g} s so that a slow reply is still a reply."
            ),
            directive=f"[[emu:latency={scale.slow_s:g}]]",
            directive_every=every_slow,
            timeout_s=scale.slow_s * 1.5,
        ),
        replace(
            base,
            name="kill-rerun",
            title="kill -9 at 50%, then the same command again",
            what=(
                f"{scale.rows:,} rows, steady-state settings; SIGKILL to the tool's process group once half the "
                "rows have a 200 in the ledger, then the same command again until it ends. Curator runs with its "
                "cache on here (its way to resume); the plain loop and the LiteLLM driver have no resume."
            ),
            kill_at=0.5,
        ),
        replace(
            base,
            name="many-rows",
            title=f"{scale.many_rows:,} short rows",
            what=(
                f"{scale.many_rows:,} short rows; no limits (the emulator has none; Curator, which needs one, gets "
                f"10,000,000 rpm); zero latency; one tool at a time; a tool still running after "
                f"{scale.many_rows_cap_s:g} s is stopped and its figures are for the rows it finished."
            ),
            tools=MANY_ROWS_TOOLS,
            rows=scale.many_rows,
            emulator_flags=(),
            client_rpm=None,
            parallel=False,
            poll_s=None,
            cap_s=scale.many_rows_cap_s,
            server_rpm=None,
        ),
        replace(
            base,
            name="images",
            title="Image payloads",
            what=(
                f"{scale.image_rows:,} rows, each with a ~300 kB JPEG sent inline (base64 data URL on /v1, "
                "inlineData on Gemini); no limits; lognormal latency; one tool at a time."
            ),
            tools=IMAGE_TOOLS,
            rows=scale.image_rows,
            emulator_flags=latency,
            client_rpm=None,
            images=True,
            parallel=False,
            server_rpm=None,
        ),
    ]
