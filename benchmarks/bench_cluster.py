"""Cluster throughput under one global limit: `pipeline run --ray` with 1, 2, 4 and 8 workers.

The emulator enforces LIMIT requests per WINDOW_S (rolling) and answers after 1 s; each worker (one shard, one
Ray task) runs the engine at concurrency 8, so one worker alone can do about 8 requests/s: throughput should
grow with workers until the quota (24 requests/s), then hold at >= 0.95 of it with no window over the limit.
The same table for the baseline where each worker paces itself at limit / N (no shared lease).

    python benchmarks/bench_cluster.py            # 4 x 2 runs of 30 s of traffic each, about 6 minutes
    python benchmarks/bench_cluster.py --quick    # 12 s of traffic each

Throughput is the rate between 10% and 90% of the job's requests (start-up and tail excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.engine import RunOptions
from pipeline.spec import load_spec

WINDOW_S = 10.0
LIMIT = 240  # per window: 24 requests/s
QUOTA = LIMIT / WINDOW_S
CONCURRENCY = 8
WORKERS = (1, 2, 4, 8)


def write_job(work: Path, base_url: str, rows: int) -> Path:
    data = work / "rows.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"b{i:06d}", "prompt": f"b{i:06d} summarise"}) + "\n"
            for i in range(rows)
        )
    )
    job = work / "job.toml"
    job.write_text(
        f'name = "bench-cluster"\n[provider]\nkind = "gemini"\nmodel = "gemini-3.1-pro-preview"\n'
        f'base_url = "{base_url}"\n[input]\npath = "{data}"\n'
        f"[limits]\nconcurrency = {CONCURRENCY}\nrequests_per_minute = {QUOTA * 60}\n"
        f"max_attempts = 6\n"
    )
    return job


def steady_rate(samples: list[tuple[float, int]], total: int) -> float:
    lo = next(t for t, n in samples if n >= 0.1 * total)
    hi_t, hi_n = next((t, n) for t, n in samples if n >= 0.9 * total)
    lo_n = next(n for t, n in samples if n >= 0.1 * total)
    return (hi_n - lo_n) / (hi_t - lo) if hi_t > lo else 0.0


def one(workers: int, shared: bool, seconds: float, work: Path) -> dict[str, float]:
    from pipeline.modes.cluster import run_cluster

    capacity = min(QUOTA, workers * CONCURRENCY)
    rows = int(capacity * seconds)
    config = EmulatorConfig(port=0, latency_ms=1000.0, rpm=LIMIT, window_s=WINDOW_S)
    with EmulatorThread(config) as emulator:
        spec = load_spec(write_job(work, emulator.base_url, rows))
        out = work / f"out-{workers}-{shared}"
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append((time.monotonic(), int(emulator.ledger()["requests"])))
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        async def main() -> object:
            options = RunOptions(
                out_dir=out,
                environ={**os.environ, "GEMINI_API_KEY": "bench"},
                handle_signals=False,
            )
            return await run_cluster(
                spec,
                options,
                out,
                shard_rows=-(-rows // workers),
                shared_quota=shared,
            )

        anyio.run(main)
        done.set()
        sampler.join()
        samples.append((time.monotonic(), int(emulator.ledger()["requests"])))
        ledger = emulator.ledger()
    total = int(ledger["requests"])
    rate = steady_rate(samples, total)
    return {
        "workers": workers,
        "rows": rows,
        "rate": rate,
        "of_quota": rate / QUOTA,
        "windows_over": sum(1 for n in ledger["per_window"] if n > LIMIT),
        "max_window": max(ledger["per_window"]),
        "429s": int(ledger["rate_limited"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 12.0 if args.quick else 30.0
    import ray

    ray.init(num_cpus=max(WORKERS), include_dashboard=False, log_to_driver=False)
    tables: dict[str, list[dict[str, float]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            for shared in (True, False):
                name = "shared lease" if shared else "per-worker limit/N"
                tables[name] = []
                for workers in WORKERS:
                    work = Path(tmp) / f"{workers}-{shared}"
                    work.mkdir()
                    row = one(workers, shared, seconds, work)
                    tables[name].append(row)
                    print(f"  {name}: {row}", flush=True)
    finally:
        ray.shutdown()
    print(
        f"\nquota {QUOTA:.0f} requests/s ({LIMIT} per {WINDOW_S:.0f} s window), latency 1 s, "
        f"concurrency {CONCURRENCY} per worker"
    )
    for name, rows in tables.items():
        print(f"\n{name}")
        print(
            "| workers | rows | requests/s | of quota | max per window | windows over | 429s |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print(
                f"| {r['workers']} | {r['rows']} | {r['rate']:.1f} | {r['of_quota']:.3f} | "
                f"{r['max_window']} / {LIMIT} | {r['windows_over']} | {r['429s']} |"
            )
    shared_rows = tables["shared lease"]
    at_quota = [r for r in shared_rows if r["workers"] * CONCURRENCY >= QUOTA]
    ok = all(r["of_quota"] >= 0.95 and r["windows_over"] == 0 for r in at_quota)
    grows = shared_rows[0]["rate"] < shared_rows[1]["rate"] < shared_rows[2]["rate"]
    print(
        f"\nverdict: grows until the quota: {grows}; >= 0.95 of it with no window over: {ok}"
    )


if __name__ == "__main__":
    main()
