"""The `pipeline` command: parses arguments, calls one library function, maps the result to an exit code.

The library functions are the Python API's (`pipeline.api`), and so are the exit-code map (`exit_code`) and the
embedded emulator's start-up (`run_spec(..., emulator=True)`): a script and the command line agree.
Exit codes (../shared/CONTRACT.md): 0 every row ok; 1 finished with rows not ok; 2 bad usage, invalid spec,
refused credentials or an unusable output directory (nothing more sent); 3 stopped by the budget or the daily
request limit (resumable); 130 interrupted (resumable).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

import anyio
import click
from rich.console import Console

from pipeline.api import (
    EXIT_INTERRUPTED,
    EXIT_NOT_ALL_OK,
    Engine,
    JobResult,
    cancel,
    embedded_emulator,
    exit_code,
    run_spec,
)
from pipeline.api import estimate as estimate_job
from pipeline.catalog import today
from pipeline.engine import RunOptions, RunResult, RunStats, output_dir, run_job
from pipeline.errors import CredentialsError, PipelineError, SpecError
from pipeline.spec import JobSpec, load_spec
from pipeline.storage import cache_dir_for, is_url, location

from ._display import ProgressDisplay, key_figure_lines
from ._models import (
    ModelsQuery,
    fetch_served,
    has_credentials,
    listing,
    render_models,
)


def _warn(console: Console, spec: JobSpec, *, quiet: bool = False) -> None:
    """The spec's warnings (a deprecated or unknown model id), one `warning: ...` line each on stderr."""
    if quiet:
        return
    for warning in spec.warnings:
        console.print(f"[yellow]warning[/yellow]: {warning}", highlight=False)


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
@click.option(
    "--mode",
    type=click.Choice(["online", "batch"]),
    help="Override the spec's mode: one request per row, or the provider's Batch API.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Batch mode: exit (code 3) once every row is in a submitted job; run again to collect.",
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
    mode: str | None,
    detach: bool,
) -> None:
    """Run JOB (or resume it when the run directory already holds it)."""
    console = Console(stderr=True, soft_wrap=True)
    try:
        spec = load_spec(job).with_mode(mode)
        if detach and spec.mode != "batch":
            raise SpecError(
                '--detach applies to batch mode: add --mode batch or set mode = "batch"'
            )
    except SpecError as exc:
        _fail(console, exc)
        return
    _warn(console, spec, quiet=quiet)
    out_dir = output_dir(spec, out if out is None or is_url(out) else Path(out))
    remote = isinstance(out_dir, str)
    options = RunOptions(
        out_dir=cache_dir_for(location(out_dir)) if remote else Path(out_dir),
        retry_failed=retry_failed,
        limit=limit,
        allow_spec_change=allow_spec_change,
        grace_s=grace_s,
    )
    engine: Engine | None = None
    if ray_address is not None:

        async def engine(
            spec: JobSpec, options: RunOptions, stats: RunStats
        ) -> RunResult:
            from pipeline.modes.cluster import run_cluster  # only --ray imports Ray

            return await run_cluster(
                spec,
                options,
                out_dir,
                address=ray_address,
                shard_rows=shard_rows,
                checkpoint_s=checkpoint_s,
                stats=stats,
            )

    def announce(line: str) -> None:
        console.print(line, highlight=False)

    async def main() -> JobResult:
        return await run_spec(
            spec,
            options,
            emulator=emulator,
            display=lambda stats: ProgressDisplay(stats, console, enabled=not quiet),
            announce=announce,
            destination=str(out_dir) if remote and engine is None else None,
            engine=engine,
            checkpoint_s=checkpoint_s,
            detach=detach,
        )

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
    except Exception:  # noqa: BLE001 (a bug: its traceback helps us, the resume hint the user)
        console.print_exception()
        console.print(
            f"this is a bug in pipeline; what was journaled is safe: resume with: pipeline run {job} "
            f"--out {out_dir}" + (" --emulator" if emulator else ""),
            highlight=False,
        )
        sys.exit(1)
    code = result.exit_code
    if not quiet:
        from pipeline.report import read_status, render_status

        console.print(render_status(read_status(out_dir)), highlight=False)
        figures = _key_figures(out_dir if ray_address is not None else options.out_dir)
        if figures:
            console.print(figures, highlight=False)
        console.print(
            f"results: {location(out_dir) / 'results'}   summary: {location(out_dir) / 'summary.json'}",
            highlight=False,
        )
    if result.stopped is not None:
        console.print(f"[yellow]stopped[/yellow]: {result.stopped}", highlight=False)
        resume = (
            f"pipeline run {job} --out {out_dir}"
            + (" --mode batch" if mode == "batch" else "")
            + (" --emulator" if emulator else "")
            + (f" --ray {ray_address}" if ray_address else "")
        )
        what = "collect with" if spec.mode == "batch" else "resume with"
        console.print(f"{what}: {resume}", highlight=False)
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
    "--pilot",
    type=click.IntRange(min=1),
    help="Send a stratified sample of N rows for real and project the whole job from it.",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="With --pilot: which sample."
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --pilot: the run directory (default as for `run`); the full run skips the pilot's rows.",
)
@click.option(
    "--emulator",
    is_flag=True,
    help="With --count-tokens or --pilot: ask the local emulator.",
)
def estimate_command(
    job: Path,
    count_tokens: bool,
    pilot: int | None,
    seed: int,
    out: Path | None,
    emulator: bool,
) -> None:
    """Check JOB's spec, rows and media and estimate tokens and cost; sends nothing by default.

    With --pilot N, N rows (stratified by prompt length and media kind) are run for real into the run
    directory, as `pipeline run` would, and the whole job's cost, rates and wall time are projected from them.
    """
    from pipeline.estimator import render_estimate

    console = Console(stderr=True, soft_wrap=True)
    with ExitStack() as stack:
        try:
            spec = load_spec(job)
            _warn(console, spec)
            if pilot is not None:
                base_url = (
                    stack.enter_context(embedded_emulator()) if emulator else None
                )
                _pilot(
                    console, spec, pilot, seed, Path(output_dir(spec, out)), base_url
                )
                return
            estimate = estimate_job(spec, count_tokens=count_tokens, emulator=emulator)
        except PipelineError as exc:
            _fail(console, exc)
            return
    click.echo(render_estimate(estimate))


def _pilot(
    console: Console,
    spec: JobSpec,
    n: int,
    seed: int,
    out_dir: Path,
    base_url: str | None,
) -> None:
    from pipeline.pilot import plan_pilot, project_pilot, render_pilot

    plan = plan_pilot(spec, n, seed=seed)
    console.print(
        f"pilot: sending {len(plan.sample.ids):,} of {plan.sample.valid_rows:,} rows "
        f"({len(plan.sample.strata)} strata) into {out_dir}",
        highlight=False,
    )
    options = plan.run_options(out_dir, base_url=base_url)
    stats = RunStats()

    async def main() -> RunResult:
        async with ProgressDisplay(stats, console):
            return await run_job(spec, options, stats=stats)

    result = anyio.run(main)
    click.echo(render_pilot(project_pilot(spec, plan, out_dir)))
    if result.stopped is not None:
        console.print(
            f"[yellow]the pilot stopped[/yellow]: {result.stopped}", highlight=False
        )
    console.print(
        f"run the job with: pipeline run {spec.path} --out {out_dir}   (the pilot's rows are not sent again)",
        highlight=False,
    )


def _key_figures(run_dir: Path | str) -> str:
    """The report's key figures of a finished session; empty where there is no journal to read (a cluster run's
    directory keeps one per shard)."""
    from pipeline.report import key_figures, read_run

    try:
        return key_figure_lines(key_figures(read_run(Path(run_dir))), run_dir)
    except PipelineError:
        return ""


@cli.command(name="report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--open", "open_it", is_flag=True, help="Open the report in the default browser."
)
def report_command(run_dir: Path, open_it: bool) -> None:
    """Write RUN_DIR/report.html (one self-contained file: charts of requests, 429s, progress, latency,
    tokens and dollars, failures, and a contact sheet for image jobs) and print its path. Works while the run
    is going, and after it stopped or crashed."""
    from pipeline.report import write_report

    console = Console(stderr=True, soft_wrap=True)
    try:
        path = write_report(run_dir)
    except PipelineError as exc:
        _fail(console, exc)
        return
    click.echo(str(path))
    if open_it:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


@cli.command(name="status")
@click.argument("run_dir", type=str)
def status_command(run_dir: str) -> None:
    """What the run directory RUN_DIR (a path or a URL) holds: rows by status, tokens, cost."""
    from pipeline.report import read_status, render_status

    console = Console(stderr=True, soft_wrap=True)
    try:
        status = read_status(run_dir if is_url(run_dir) else Path(run_dir))
    except PipelineError as exc:
        _fail(console, exc)
        return
    click.echo(render_status(status))


@cli.command(name="cancel")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--base-url",
    help="Where the provider is now, when it moved since the run (the recorded base_url otherwise).",
)
def cancel_command(run_dir: Path, base_url: str | None) -> None:
    """Cancel the batch jobs of the run in RUN_DIR that are still running."""
    console = Console(stderr=True, soft_wrap=True)
    try:
        report = cancel(run_dir, base_url=base_url)
    except PipelineError as exc:
        _fail(console, exc)
        return
    for name, why in report.failed:
        console.print(f"[red]not cancelled[/red]: {name}: {why}", highlight=False)
    if not report.cancelled and not report.failed:
        console.print(
            f"{run_dir} has no batch job running; nothing to cancel", highlight=False
        )
        return
    console.print(
        f"cancelled {len(report.cancelled)} batch job(s): {', '.join(report.cancelled)}",
        highlight=False,
    )
    if report.running_pid is not None:
        console.print(
            "the run attached to them collects what they answered and then stops",
            highlight=False,
        )
    else:
        console.print(
            "what they answered is collected by the next `pipeline run JOB --mode batch --out "
            f"{run_dir}`; the rows they did not answer stay pending (that run sends them again)",
            highlight=False,
        )
    if report.failed:
        sys.exit(1)


@cli.command(name="models")
@click.option(
    "--provider",
    "kind",
    type=click.Choice(["gemini", "vertex", "openai"]),
    default="gemini",
    show_default=True,
    help="Whose ids and lifecycle to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--emulator",
    is_flag=True,
    help="Compare with the local emulator's model list (no key needed).",
)
@click.option(
    "--base-url",
    help="Where the provider's list is asked for (openai: with the version path, e.g. https://host/v1).",
)
@click.option(
    "--api-key-env", help="The variable holding the key (default: the provider's)."
)
def models_command(
    kind: str,
    as_json: bool,
    emulator: bool,
    base_url: str | None,
    api_key_env: str | None,
) -> None:
    """List the model catalog: ids, kind, lifecycle, prices; with a key (or --emulator) also the provider's list."""
    console = Console(stderr=True, soft_wrap=True)
    environ: Mapping[str, str] = dict(os.environ)
    served: list[str] | None = None
    with ExitStack() as stack:
        if emulator:
            base_url = stack.enter_context(embedded_emulator()) + (
                "/v1" if kind == "openai" else ""
            )
            name = api_key_env or (
                "OPENAI_API_KEY" if kind == "openai" else "GEMINI_API_KEY"
            )
            environ = {**environ, name: environ.get(name) or "emulator-key"}
        wanted = emulator or has_credentials(kind, environ, api_key_env)
        if kind == "vertex" and wanted:
            console.print(
                "note: Vertex AI's own model list is not fetched; the catalog is shown",
                highlight=False,
            )
        elif kind == "openai" and wanted and not base_url:
            console.print(
                "note: --base-url names the OpenAI-compatible endpoint whose list to fetch; the catalog is shown",
                highlight=False,
            )
        elif wanted:
            query = ModelsQuery(kind=kind, base_url=base_url, api_key_env=api_key_env)
            try:
                served = fetch_served(query, environ)
            except CredentialsError as exc:
                _fail(console, exc)
                return
            except PipelineError as exc:
                console.print(
                    f"[yellow]warning[/yellow]: the provider's model list could not be fetched: {exc}",
                    highlight=False,
                )
    click.echo(render_models(listing(kind, served, on=today()), as_json=as_json))


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
    "--day-window",
    "day_window_s",
    type=float,
    help="A rolling rpd window of this many seconds (default: the calendar day, midnight Pacific, as the service).",
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
@click.option(
    "--lifecycle-date",
    help="Evaluate model lifecycles (shut-down and routed ids) on this day, YYYY-MM-DD (default: today, Pacific).",
)
@click.option(
    "--image-signature-chars",
    default=1_100_000,
    show_default=True,
    type=int,
    help="Length of each thoughtSignature on image replies (0: short).",
)
@click.option(
    "--flex-latency-s",
    default=2.0,
    show_default=True,
    type=float,
    help="Mean Flex queueing wait in seconds.",
)
@click.option(
    "--flex-jitter",
    default=0.5,
    show_default=True,
    type=float,
    help="Flex wait spread: uniform in latency x [1 - jitter, 1 + jitter].",
)
@click.option(
    "--flex-capacity",
    type=int,
    help="Flex requests that may run at once (past it: shed).",
)
@click.option(
    "--flex-shed-status",
    default="503",
    show_default=True,
    type=click.Choice(["503", "429"]),
    help="What a shed Flex request gets.",
)
@click.option(
    "--priority-allowance-rpm",
    type=int,
    help="Priority requests per window per key and model before the silent downgrade (default: 0.3 x --rpm).",
)
@click.option(
    "--implicit-cache/--no-implicit-cache",
    default=False,
    show_default=True,
    help="Report repeated prompt prefixes as cached tokens.",
)
@click.option("--implicit-cache-ttl-s", default=300.0, show_default=True, type=float)
@click.option(
    "--batch-pending-s",
    default=1.0,
    show_default=True,
    type=float,
    help="Seconds a batch job stays pending.",
)
@click.option(
    "--batch-rows-per-s",
    default=1000.0,
    show_default=True,
    type=float,
    help="Lines each running batch job answers per second.",
)
@click.option(
    "--batch-expire-s",
    default=172800.0,
    show_default=True,
    type=float,
    help="An unfinished batch job expires this long after its creation.",
)
@click.option(
    "--batch-enqueued-tokens",
    type=int,
    help="Enqueued batch input tokens per key and model (429 past it).",
)
@click.option(
    "--batch-max-concurrent",
    default=100,
    show_default=True,
    type=int,
    help="Live batch jobs per key (429 past it).",
)
@click.option(
    "--batch-max-input-bytes",
    default=2 * 1024**3,
    show_default=True,
    type=int,
    help="Largest batch input file.",
)
@click.option(
    "--batch-fail-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Probability that a batch job ends FAILED.",
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
    day_window_s: float | None,
    fault_rate: float,
    fault_mix: str,
    hang_s: float,
    file_processing_s: float,
    ledger_path: str | None,
    lifecycle_date: str | None,
    image_signature_chars: int,
    flex_latency_s: float,
    flex_jitter: float,
    flex_capacity: int | None,
    flex_shed_status: str,
    priority_allowance_rpm: int | None,
    implicit_cache: bool,
    implicit_cache_ttl_s: float,
    batch_pending_s: float,
    batch_rows_per_s: float,
    batch_expire_s: float,
    batch_enqueued_tokens: int | None,
    batch_max_concurrent: int,
    batch_max_input_bytes: int,
    batch_fail_rate: float,
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
            lifecycle_date=lifecycle_date,
            image_signature_chars=image_signature_chars,
            flex_latency_s=flex_latency_s,
            flex_jitter=flex_jitter,
            flex_capacity=flex_capacity,
            flex_shed_status=int(flex_shed_status),
            priority_allowance_rpm=priority_allowance_rpm,
            implicit_cache=implicit_cache,
            implicit_cache_ttl_s=implicit_cache_ttl_s,
            batch_pending_s=batch_pending_s,
            batch_rows_per_s=batch_rows_per_s,
            batch_expire_s=batch_expire_s,
            batch_enqueued_tokens=batch_enqueued_tokens,
            batch_max_concurrent=batch_max_concurrent,
            batch_max_input_bytes=batch_max_input_bytes,
            batch_fail_rate=batch_fail_rate,
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
