"""Memory: peak RSS of `pipeline run` for 1,000,000 rows, and against the peak for 100,000 rows.

The same job (zero-latency emulator in its own process on its own core, concurrency 64) runs through the CLI on
a small and a large input; peak RSS is the client process's `VmHWM` (the kernel's high-water mark), read every
50 ms, with `ru_maxrss` from `os.wait4` as a cross-check. Targets (issue 3): the large peak at most
300 MB, and at most 1.5x the small one. The emulator's memory (its ledger grows with every distinct request) is
in the other process and not counted.

The full sizes take a while (1,000,000 rows at ~1,500 rows/s is ~11 minutes on a two-core machine);
`--quick` runs 20,000 against 200,000 rows instead, the same ratio at a fifth of the scale.

    python benchmarks/bench_memory.py            # 100,000 vs 1,000,000 rows
    python benchmarks/bench_memory.py --quick    # 20,000 vs 200,000 rows
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import (
    ClientRun,
    Emulator,
    describe_cores,
    rows_ok,
    run_cli,
    verdict,
    write_job,
    write_rows,
)

LIMIT_MB = 300.0
TARGET = 1.5


def run_size(emu: Emulator, work: Path, count: int, concurrency: int) -> ClientRun:
    rows = write_rows(work / f"rows-{count}.jsonl", count)
    job = write_job(
        work, rows, emu.base_url, name=f"memory-{count}", concurrency=concurrency
    )
    out = work / f"out-{count}"
    run = run_cli(job, out, timeout_s=count / 100 + 300)
    run.check("pipeline run")
    ok = rows_ok(out)
    if ok != count:
        raise SystemExit(f"{count:,} rows: {ok:,} ended ok")
    print(
        f"  {count:>9,} rows: peak RSS {run.sampled_rss_mb:,.0f} MB (ru_maxrss {run.peak_rss_mb:,.0f} MB), "
        f"{run.wall_s:,.0f} s, {count / run.wall_s:,.0f} rows/s"
    )
    return run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="20,000 vs 200,000 rows")
    args = parser.parse_args()
    if args.quick:
        args.small, args.large = 20_000, 200_000
    print(
        f"memory: {args.small:,} vs {args.large:,} rows, concurrency {args.concurrency}; {describe_cores()}"
    )
    # The run directories sit under the working directory: a user's DIR is on disk, not on a tmpfs.
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-", dir=Path.cwd()) as tmp,
        Emulator() as emu,
    ):
        work = Path(tmp)
        small = run_size(emu, work, args.small, args.concurrency)
        large = run_size(emu, work, args.large, args.concurrency)
    ratio = large.sampled_rss_mb / small.sampled_rss_mb
    print(
        f"peak RSS {large.sampled_rss_mb:,.0f} MB for {args.large:,} rows (limit {LIMIT_MB:g} MB), "
        f"{ratio:.2f}x the {small.sampled_rss_mb:,.0f} MB for {args.small:,} rows (limit {TARGET}x)"
    )
    passed = ratio <= TARGET and large.sampled_rss_mb <= LIMIT_MB
    print(verdict("memory", ratio, f"<= {TARGET} and <= {LIMIT_MB:g} MB", passed))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
