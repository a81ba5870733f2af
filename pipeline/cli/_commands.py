"""The `pipeline` command: parses arguments, calls one library function, maps the result to an exit code.

Exit codes (../shared/CONTRACT.md): 0 every row ok; 1 finished with rows not ok; 2 bad usage, invalid spec,
refused credentials or an unusable output directory (nothing more sent); 3 stopped by the budget or the daily
request limit (resumable); 130 interrupted (resumable).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

import anyio
import click
from rich.console import Console

from pipeline.errors import (
    BudgetExhausted,
    CredentialsError,
    DailyLimitReached,
    Interrupted,
    OutputError,
    PipelineError,
    SpecError,
)
from pipeline.run import RunOptions, RunResult, RunStats, output_dir, run_job
from pipeline.spec import load_spec
from pipeline.storage import cache_dir_for, is_url, location

from ._display import ProgressDisplay

EXIT_OK, EXIT_NOT_ALL_OK, EXIT_USAGE, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def exit_code(result: RunResult | BaseException) -> int:
    """The one map from how a run ended to the contract's exit codes."""
    if isinstance(result, (SpecError, CredentialsError, OutputError, click.UsageError)):
        return EXIT_USAGE
    if isinstance(result, (BudgetExhausted, DailyLimitReached)):
        return EXIT_STOPPED
    if isinstance(result, (Interrupted, KeyboardInterrupt)):
        return EXIT_INTERRUPTED
    if isinstance(result, BaseException):
        return EXIT_USAGE if isinstance(result, PipelineError) else 1
    if result.stopped is not None:
        return exit_code(result.stopped)
    rows = result.summary.get("rows")
    if isinstance(rows, Mapping):
        not_ok = sum(
            int(n)
            for status, n in rows.items()
            if status not in ("ok", "total") and isinstance(n, int)
        )
        return EXIT_OK if not_ok == 0 else EXIT_NOT_ALL_OK
    return EXIT_NOT_ALL_OK


def _fail(console: Console, exc: BaseException) -> None:
    console.print(f"[red]{type(exc).__name__}[/red]: {exc}", highlight=False)
    sys.exit(exit_code(exc))


def _tune_gc() -> None:
    """Fewer cyclic garbage collections during a run.

    A run allocates a few objects per row and frees nearly all of them by reference counting, yet the default
    thresholds start a collection every 700 allocations, each walking the young objects, and now and then
    every object alive: 5% of a 40,000-row run's time at zero latency. Objects that exist before the run
    (modules, the spec) are frozen out of collections, and collections are rarer; cycles are still collected.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


@click.group()
@click.version_option(package_name="pipeline")
def cli() -> None:
    """Batch runner for Google's Gemini models: a TOML job spec in, a Parquet dataset out."""


@cli.command(name="run")
@click.argument("job", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    type=str,
    help="Run directory, or a URL such as s3://bucket/run (default: spec's [output] dir, else ./out/<name>).",
)
@click.option(
    "--emulator",
    is_flag=True,
    help="Start the local API emulator and run the job against it.",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="When resuming, send the rows that ended 'failed' again.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), help="Only the first N rows of the input."
)
@click.option("--quiet", is_flag=True, help="Print errors only.")
@click.option(
    "--allow-spec-change",
    is_flag=True,
    help="Resume a run directory whose spec has changed.",
)
@click.option(
    "--grace",
    "grace_s",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds in-flight requests get to finish after Ctrl+C.",
)
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS",
    help="Run the shards on a Ray cluster: 'auto', a cluster address, or 'local' to start one.",
)
@click.option(
    "--shard-rows",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="With --ray: input rows per shard (fixed when the run directory is first used).",
)
@click.option(
    "--checkpoint-s",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="With a remote run directory: seconds between journal checkpoints to it.",
)
def run_command(
    job: Path,
    out: str | None,
    emulator: bool,
    retry_failed: bool,
    limit: int | None,
    quiet: bool,
    allow_spec_change: bool,
    grace_s: float,
    ray_address: str | None,
    shard_rows: int,
    checkpoint_s: float,
) -> None:
    """Run JOB (or resume it when the run directory already holds it)."""
    console = Console(stderr=True, soft_wrap=True)
    try:
        spec = load_spec(job)
    except SpecError as exc:
        _fail(console, exc)
        return
    out_dir = output_dir(spec, out if out is None or is_url(out) else Path(out))
    remote = isinstance(out_dir, str)
    with ExitStack() as stack:
        base_url = None
        if emulator:
            from pipeline.emulator import EmulatorConfig, EmulatorThread

            server = stack.enter_context(EmulatorThread(EmulatorConfig(port=0)))
            base_url = server.base_url
            console.print(
                f"emulator: running the job against the local emulator at {base_url} (no API key needed)",
                highlight=False,
            )
        options = RunOptions(
            out_dir=cache_dir_for(location(out_dir)) if remote else Path(out_dir),
            retry_failed=retry_failed,
            limit=limit,
            allow_spec_change=allow_spec_change,
            base_url=base_url,
            grace_s=grace_s,
        )
        stats = RunStats()

        async def main() -> RunResult:
            async with ProgressDisplay(stats, console, enabled=not quiet):
                if ray_address is not None:
                    from pipeline.cluster import run_cluster

                    return await run_cluster(
                        spec,
                        options,
                        out_dir,
                        address=ray_address,
                        shard_rows=shard_rows,
                        checkpoint_s=checkpoint_s,
                        stats=stats,
                    )
                if remote:
                    from pipeline.remote import run_remote

                    return await run_remote(
                        spec,
                        options,
                        str(out_dir),
                        checkpoint_s=checkpoint_s,
                        stats=stats,
                    )
                return await run_job(spec, options, stats=stats)

        try:
            _tune_gc()
            result = anyio.run(main)
        except KeyboardInterrupt:
            console.print(
                "interrupted before the run started; nothing was sent", highlight=False
            )
            sys.exit(EXIT_INTERRUPTED)
        except PipelineError as exc:
            _fail(console, exc)
            return
    code = exit_code(result)
    if not quiet:
        from pipeline.status import read_status, render_status

        console.print(render_status(read_status(out_dir)), highlight=False)
        console.print(
            f"results: {location(out_dir) / 'results'}   summary: {location(out_dir) / 'summary.json'}",
            highlight=False,
        )
    if result.stopped is not None:
        console.print(f"[yellow]stopped[/yellow]: {result.stopped}", highlight=False)
        resume = (
            f"pipeline run {job} --out {out_dir}"
            + (" --emulator" if emulator else "")
            + (f" --ray {ray_address}" if ray_address else "")
        )
        console.print(f"resume with: {resume}", highlight=False)
    elif code == EXIT_NOT_ALL_OK and not quiet:
        console.print(
            "some rows did not end ok; their error_code and error_message are in the results",
            highlight=False,
        )
    sys.exit(code)


@cli.command(name="estimate")
@click.argument("job", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--count-tokens",
    is_flag=True,
    help="Ask the provider's countTokens for exact input counts (sends requests).",
)
@click.option(
    "--emulator", is_flag=True, help="With --count-tokens: ask the local emulator."
)
def estimate_command(job: Path, count_tokens: bool, emulator: bool) -> None:
    """Check JOB's spec, rows and media and estimate tokens and cost; sends nothing by default."""
    from pipeline.estimate import estimate_job, render_estimate

    console = Console(stderr=True, soft_wrap=True)
    with ExitStack() as stack:
        base_url = None
        if emulator and count_tokens:
            from pipeline.emulator import EmulatorConfig, EmulatorThread

            server = stack.enter_context(EmulatorThread(EmulatorConfig(port=0)))
            base_url = server.base_url
        try:
            spec = load_spec(job)
            estimate = estimate_job(spec, count_tokens=count_tokens, base_url=base_url)
        except PipelineError as exc:
            _fail(console, exc)
            return
    click.echo(render_estimate(estimate))


@cli.command(name="status")
@click.argument("run_dir", type=str)
def status_command(run_dir: str) -> None:
    """What the run directory RUN_DIR (a path or a URL) holds: rows by status, tokens, cost."""
    from pipeline.status import read_status, render_status

    console = Console(stderr=True, soft_wrap=True)
    try:
        status = read_status(run_dir if is_url(run_dir) else Path(run_dir))
    except PipelineError as exc:
        _fail(console, exc)
        return
    click.echo(render_status(status))


@cli.command(name="emulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8089, show_default=True, type=int)
@click.option(
    "--api-key",
    envvar="EMULATOR_API_KEY",
    help="Require this key (default: accept any).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=float,
    help="Fixed latency, or the median with --latency-p99-ms.",
)
@click.option(
    "--latency-p99-ms",
    type=float,
    help="Tail latency: lognormal with this 99th percentile.",
)
@click.option("--ms-per-output-token", default=0.0, show_default=True, type=float)
@click.option(
    "--rpm", type=int, help="Requests per window per key and model (429 past it)."
)
@click.option("--tpm", type=int, help="Input tokens per window per key and model.")
@click.option("--rpd", type=int, help="Requests per day window per key and model.")
@click.option(
    "--window",
    "window_s",
    default=60.0,
    show_default=True,
    type=float,
    help="Length of the rpm/tpm window in seconds.",
)
@click.option(
    "--day-window", "day_window_s", default=86400.0, show_default=True, type=float
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Probability of a random fault.",
)
@click.option(
    "--fault-mix",
    default="429,500,503,504,reset,hang,malformed,truncated",
    show_default=True,
)
@click.option("--hang-s", default=30.0, show_default=True, type=float)
@click.option("--file-processing-s", default=0.0, show_default=True, type=float)
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(dir_okay=False),
    help="Write the ledger JSON here on exit.",
)
def emulator_command(
    host: str,
    port: int,
    api_key: str | None,
    seed: int,
    latency_ms: float,
    latency_p99_ms: float | None,
    ms_per_output_token: float,
    rpm: int | None,
    tpm: int | None,
    rpd: int | None,
    window_s: float,
    day_window_s: float,
    fault_rate: float,
    fault_mix: str,
    hang_s: float,
    file_processing_s: float,
    ledger_path: str | None,
) -> None:
    """Serve the local emulator of the Gemini and OpenAI-compatible APIs."""
    from pipeline.emulator import EmulatorConfig, serve_forever

    try:
        config = EmulatorConfig(
            host=host,
            port=port,
            api_key=api_key,
            seed=seed,
            latency_ms=latency_ms,
            latency_p99_ms=latency_p99_ms,
            ms_per_output_token=ms_per_output_token,
            rpm=rpm,
            tpm=tpm,
            rpd=rpd,
            window_s=window_s,
            day_window_s=day_window_s,
            fault_rate=fault_rate,
            fault_mix=tuple(
                part.strip() for part in fault_mix.split(",") if part.strip()
            ),
            hang_s=hang_s,
            file_processing_s=file_processing_s,
            ledger_path=ledger_path,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    def ready(base_url: str) -> None:
        click.echo(
            f"emulator listening: Gemini {base_url}/v1beta  Vertex {base_url}/v1beta1  "
            f"OpenAI-compatible {base_url}/v1 and {base_url}/v1beta/openai",
            err=False,
        )
        sys.stdout.flush()

    serve_forever(config, ready)


def main() -> None:
    cli()
