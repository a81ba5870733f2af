"""Rate fidelity: a job with `requests_per_minute = N` against an emulator that enforces N per rolling window.

The emulator (its own process, its own core) answers at once and refuses with 429 any request that would put
more than its limit in its rolling window; the job is given exactly the same limit and enough rows for two
minutes (`--minutes`). Figures: the achieved request rate, measured from the first to the last request the
client sent (`finished_at` in the results, zero latency), over the configured rate, target at least 0.97; and the
429s the emulator answered, target zero. `pipeline run` runs through the CLI as users run it.

The pacer aims 2% under the limit (limits.RATE_SAFETY = 0.98), so a rolling window never sees more than N
even with a little jitter; 0.97 leaves room for 1% of scheduling noise on top.

    python benchmarks/bench_rate.py            # 1,200 per 60 s window (20/s), two minutes: 2,400 requests
    python benchmarks/bench_rate.py --quick    # 100 per 10 s window (10/s), 20 s: 200 requests
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pyarrow.dataset as ds
from common import (
    Emulator,
    describe_cores,
    rows_ok,
    run_cli,
    verdict,
    write_job,
    write_rows,
)

TARGET = 0.97


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--per-window", type=int, default=1200, help="the limit, per window"
    )
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--quick", action="store_true", help="100 per 10 s window for 20 s"
    )
    args = parser.parse_args()
    if args.quick:
        args.per_window, args.window_s, args.minutes = 100, 10.0, 1 / 3
    rpm = args.per_window * 60.0 / args.window_s
    rows_count = round(rpm * args.minutes)
    print(
        f"rate: requests_per_minute = {rpm:g} ({args.per_window} per {args.window_s:g} s rolling window on the "
        f"emulator), {rows_count:,} rows (~{args.minutes * 60:.0f} s), concurrency {args.concurrency}; "
        f"{describe_cores()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-rate-") as tmp,
        Emulator("--rpm", str(args.per_window), "--window", str(args.window_s)) as emu,
    ):
        work = Path(tmp)
        rows = write_rows(work / "rows.jsonl", rows_count)
        job = write_job(
            work,
            rows,
            emu.base_url,
            concurrency=args.concurrency,
            requests_per_minute=rpm,
        )
        out = work / "out"
        run = run_cli(job, out, timeout_s=args.minutes * 60 * 3 + 120)
        run.check("pipeline run")
        requests, rate_limited = emu.requests_seen()
        table = ds.dataset(out / "results").to_table(columns=["finished_at"])
        ok = rows_ok(out)
    finished = sorted(table.column("finished_at").to_pylist())
    span = (finished[-1] - finished[0]).total_seconds()
    achieved = (len(finished) - 1) / span * 60.0  # n requests take n - 1 slots
    ratio = achieved / rpm
    print(
        f"{ok:,} rows ok; the emulator answered {requests:,} requests, {rate_limited} with 429"
    )
    print(
        f"achieved {achieved:,.1f} requests/min over {span:.1f} s (configured {rpm:g}); "
        f"whole run {run.wall_s:.1f} s including start-up"
    )
    passed = ratio >= TARGET and rate_limited == 0 and ok == rows_count
    print(verdict("rate", ratio, f">= {TARGET} with zero 429s", passed))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
