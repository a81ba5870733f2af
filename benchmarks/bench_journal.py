"""Journal cost: the same run with the durable SQLite journal and with journaling off (issue 4).

`RunOptions(durable_journal=False)` swaps the SQLite journal (WAL, synchronous=FULL, group commits) for an
in-memory one; nothing else changes. Both sides run `pipeline.engine.run_job` in a subprocess pinned to the
client core (the CLI has no switch for this, by design), against the zero-latency emulator in its own process
on the other core, back to back (the order alternates), `--rounds` times; rows per second from spawn to exit
are compared round by round. Target: the median of the rounds' ratios durable / in-memory >= 0.9.

    python benchmarks/bench_journal.py            # 40,000 rows, concurrency 64, 3 rounds
    python benchmarks/bench_journal.py --quick    # 8,000 rows, 1 round
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from common import (
    Emulator,
    describe_cores,
    rows_ok,
    run_engine,
    verdict,
    write_job,
    write_rows,
)

TARGET = 0.9


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--quick", action="store_true", help="8,000 rows, one round: a smoke run"
    )
    args = parser.parse_args()
    if args.quick:
        args.rows, args.rounds = 8_000, 1
    print(
        f"journal: {args.rows:,} rows, concurrency {args.concurrency}, {args.rounds} round(s); {describe_cores()}"
    )
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    ratios: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-journal-", dir=Path.cwd()) as tmp,
        Emulator() as emu,
    ):
        # The run directory is under the working directory, on the disk a user's DIR would be on (not a tmpfs).
        work = Path(tmp)
        rows = write_rows(work / "rows.jsonl", args.rows)
        job = write_job(work, rows, emu.base_url, concurrency=args.concurrency)
        for round_ in range(args.rounds):
            order = (False, True) if round_ % 2 == 0 else (True, False)
            for durable in order:
                out = work / f"out-{round_}-{'durable' if durable else 'memory'}"
                run = run_engine(job, out, durable=durable)
                run.check("run_job")
                if rows_ok(out) != args.rows:
                    raise SystemExit(
                        f"the run ended {rows_ok(out)} rows ok, not {args.rows}"
                    )
                rates[durable].append(args.rows / run.wall_s)
                cpu[durable].append(run.cpu_s / args.rows * 1e6)
            ratios.append(rates[True][-1] / rates[False][-1])
            print(
                f"  round {round_ + 1}: in-memory journal {rates[False][-1]:,.0f} rows/s "
                f"({cpu[False][-1]:.0f} us CPU/row), SQLite journal {rates[True][-1]:,.0f} rows/s "
                f"({cpu[True][-1]:.0f} us CPU/row): ratio {ratios[-1]:.3f}"
            )
    memory = statistics.median(rates[False])
    durable = statistics.median(rates[True])
    ratio = statistics.median(ratios)
    cpu_ratio = statistics.median(cpu[False]) / statistics.median(cpu[True])
    print(f"journaling off (in memory): {memory:,.0f} rows/s (median)")
    print(
        f"journaling on (SQLite WAL, synchronous=FULL): {durable:,.0f} rows/s (median)"
    )
    print(
        f"CPU per row (noise-resistant cross-check): in-memory / SQLite = {cpu_ratio:.3f}; "
        "the verdict is the median of the rounds' throughput ratios"
    )
    passed = ratio >= TARGET
    print(verdict("journal", ratio, f">= {TARGET}", passed))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
