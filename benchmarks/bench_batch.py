"""Batch mode's memory: the client's peak RSS while it builds a 200,000-row job's input, and while it reads a
result file of more than 1 GB, each against the same job at 20,000 rows (a ratio: flat means about 1).

Each row asks for JSON against a schema of five 1,000-character strings, so every result line is about 5.3 kB
(the reply's text, its JSON and usage): 200,000 rows make a result file of about 1.1 GB, which the emulator
writes line by line and the client downloads and reads. Two client processes per size, as a user runs them:

1. `pipeline run JOB --mode batch --detach`: builds the keyed JSONL (on disk), uploads it, creates the job and
   exits: its peak RSS is the building peak;
2. `pipeline run JOB --mode batch`: re-attaches, waits, streams the result file to disk, parses it chunk by
   chunk into the journal (the reading peak: the kernel's VmHWM, read every 50 ms until DIR/results.tmp-*
   appears), then
   rewrites DIR/results/ from the journal as every run does (the whole run's peak, also reported: the
   Parquet writer holds a row group of up to 64 MB of these 10 kB rows, whatever the row count).

The emulator runs in its own process on its own core (`common.cores`), with the Batch API's clock compressed.
Targets: each large peak at most 1.5x the small one (and, as a sanity bound, under 600 MB).

    python benchmarks/bench_batch.py              # 20,000 vs 200,000 rows (about 10 minutes, 2 GB of disk)
    python benchmarks/bench_batch.py --quick      # 20,000 vs 50,000 rows (a 270 MB result file)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import psutil
from common import (
    KEY,
    MB,
    ROOT,
    _client_env,
    _vm_hwm,
    cores,
    describe_cores,
    rows_ok,
    summary_of,
    verdict,
    write_rows,
)

MODEL = "gemini-3-flash-preview"
TARGET = 1.5
LIMIT_MB = 600.0
ITEMS = 5  # strings of 1,000 characters in each reply: about 5.3 kB a result line
SCHEMA = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "minItems": ITEMS,
            "maxItems": ITEMS,
            "items": {"type": "string", "minLength": 1000, "maxLength": 1000},
        }
    },
    "required": ["items"],
}
_SERVER = """
import sys
from pipeline.emulator import EmulatorConfig, serve_forever
config = EmulatorConfig(port=0, api_key=sys.argv[1], batch_pending_s=0.5, batch_rows_per_s=1e6)
serve_forever(config, lambda url: print(f"emulator listening: Gemini {url}/v1beta", flush=True))
"""


class BatchEmulator:
    """The emulator in its own process, pinned to the server core, with the Batch API's clock compressed."""

    def __init__(self) -> None:
        self.base_url = ""
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        server_core, _ = cores()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER, KEY],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        os.sched_setaffinity(self.process.pid, {server_core})
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening" not in line:
            self.__exit__()
            raise SystemExit(f"the emulator did not start: {line!r}")
        self.base_url = line.split("Gemini ", 1)[1].strip().removesuffix("/v1beta")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            process, self.process = self.process, None
            process.terminate()
            process.wait(timeout=60)
            if process.stdout is not None:
                process.stdout.close()

    def get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base_url}/{path}", headers={"x-goog-api-key": KEY}
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            return dict(json.load(reply))

    def jobs_created(self) -> int:
        return int(self.get("_emulator/ledger")["batch"]["jobs_created"])


def write_job(work: Path, rows: Path, base_url: str, name: str) -> Path:
    schema = work / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    text = "\n".join(
        [
            f'name = "{name}"',
            'mode = "batch"',
            "",
            "[provider]",
            'kind = "gemini"',
            f'model = "{MODEL}"',
            f"base_url = {json.dumps(base_url)}",
            "",
            "[input]",
            f"path = {json.dumps(str(rows))}",
            "",
            "[generation]",
            'thinking_level = "low"',
            f"response_schema_file = {json.dumps(str(schema))}",
            "",
            "[batch]",
            "poll_interval_s = 1.0",
            "max_poll_interval_s = 5.0",
            "",
        ]
    )
    path = work / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class Phases:
    """One client process: its peak RSS before it started rewriting DIR/results/ (building, or reading the
    result file into the journal) and over its whole life (the results rewrite included)."""

    returncode: int
    wall_s: float
    before_results_mb: float
    peak_mb: float
    stderr: str


def pipeline_run(job: Path, out: Path, *extra: str, timeout_s: float) -> Phases:
    """`pipeline run JOB --out OUT --quiet EXTRA`, pinned to the client core, its RSS sampled every 50 ms;
    the results rewrite is seen starting when DIR/results.tmp-* appears."""
    _, client_core = cores()
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        str(job),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_client_env(None),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        if client_core is not None:
            os.sched_setaffinity(process.pid, {client_core})
        watched = psutil.Process(process.pid)
        before = peak = 0
        rewriting = False
        while process.poll() is None:
            if time.perf_counter() - started > timeout_s:
                process.kill()
            try:
                # VmHWM is the kernel's high-water mark: read before the rewrite starts, it is the exact peak
                # of the phase before it (up to one sampling period).
                rss = max(watched.memory_info().rss, _vm_hwm(process.pid))
            except (psutil.Error, OSError):
                break
            rewriting = rewriting or any(out.glob("results.tmp-*"))
            peak = max(peak, rss)
            if not rewriting:
                before = max(before, rss)
            time.sleep(0.05)
        process.wait()
        stderr.seek(0)
        text = stderr.read()
    return Phases(
        process.returncode, time.perf_counter() - started, before / MB, peak / MB, text
    )


def run_size(emu: BatchEmulator, work: Path, count: int) -> tuple[Phases, Phases, int]:
    rows = write_rows(work / f"rows-{count}.jsonl", count)
    job = write_job(work, rows, emu.base_url, f"batch-{count}")
    out = work / f"out-{count}"
    created = emu.jobs_created()
    build = pipeline_run(job, out, "--detach", timeout_s=count / 50 + 600)
    if build.returncode not in (0, 3):  # 3: detached with the job running
        raise SystemExit(f"building exited {build.returncode}:\n{build.stderr[-3000:]}")
    collect = pipeline_run(job, out, timeout_s=count / 20 + 1200)
    if collect.returncode != 0:
        raise SystemExit(
            f"collecting exited {collect.returncode}:\n{collect.stderr[-3000:]}"
        )
    if rows_ok(out) != count:
        raise SystemExit(f"{count:,} rows: {rows_ok(out):,} ended ok")
    if emu.jobs_created() - created != 1:
        raise SystemExit(
            f"{count:,} rows: {emu.jobs_created() - created} jobs created, expected 1"
        )
    name = summary_of(out)["batch"]["jobs"][0]["name"]
    result_file = emu.get(f"v1beta/{name}")["metadata"]["output"]["responsesFile"]
    size = int(emu.get(f"v1beta/{result_file}")["sizeBytes"])
    print(
        f"  {count:>9,} rows: building peak RSS {build.before_results_mb:,.0f} MB ({build.wall_s:,.0f} s); "
        f"reading a {size / 1e9:,.2f} GB result file: peak RSS {collect.before_results_mb:,.0f} MB, "
        f"{collect.peak_mb:,.0f} MB with the results rewrite ({collect.wall_s:,.0f} s, "
        f"{count / collect.wall_s:,.0f} rows/s)"
    )
    return build, collect, size


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="20,000 vs 50,000 rows")
    args = parser.parse_args()
    if args.quick:
        args.small, args.large = 20_000, 50_000
    print(
        f"batch memory: {args.small:,} vs {args.large:,} rows, {ITEMS} x 1,000-char strings a reply; {describe_cores()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-batch-", dir=Path.cwd()) as tmp,
        BatchEmulator() as emu,
    ):
        work = Path(tmp)
        small_build, small_read, _ = run_size(emu, work, args.small)
        large_build, large_read, size = run_size(emu, work, args.large)
    passed = True
    for what, small, large in (
        (
            "building the input",
            small_build.before_results_mb,
            large_build.before_results_mb,
        ),
        (
            "reading the result file",
            small_read.before_results_mb,
            large_read.before_results_mb,
        ),
        ("the whole collecting run", small_read.peak_mb, large_read.peak_mb),
    ):
        ratio = large / small
        ok = ratio <= TARGET and large <= LIMIT_MB
        passed = passed and ok
        print(
            verdict(
                f"{what}: peak RSS {large:,.0f} MB for {args.large:,} rows vs {small:,.0f} MB for {args.small:,}",
                ratio,
                f"<= {TARGET} and <= {LIMIT_MB:g} MB",
                ok,
            )
        )
    if not args.quick and size < 1e9:
        print(
            f"the result file was {size / 1e9:.2f} GB, under the 1 GB the benchmark is meant to read"
        )
        passed = False
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
