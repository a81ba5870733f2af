"""Half price at the same pace: one job four ways on the emulator, dollars checked against its ledger.

The job: 2,000 rows on gemini-3-flash-preview, each prompt opening with the same system instruction and a shared
handbook of ~6,000 tokens (`[cache] files`), thinking low, 32 requests in flight. The emulator (same seed every
time) answers Standard requests in `--latency-ms` and Flex ones after a further `--flex-latency-s` (x 0.5-1.5),
as Flex queues for minutes on the real service. The four ways:

1. standard: every row at Standard, the handbook sent with each row;
2. flex: every row at Flex (half price, slower);
3. auto: `service_tier = "auto"` with `[limits] deadline` set `--deadline-s` after the start, which all-Flex
   would miss: it must finish by then and cost less than all-Standard;
4. cached: Standard with the handbook and the system instruction in one context cache (`[cache] enabled`).

For each: wall time (spawn to exit), rows ok, rows by served tier, the run's own cost (summary.json `cost_usd`,
cache creation and storage included) and the emulator's ledger `cost_usd`, which must agree.

    python benchmarks/bench_tiers.py [--rows 2000] [--concurrency 32] [--latency-ms 50] [--flex-latency-s 2]
                                     [--deadline-s 60] [--seed 7] [--keep DIR]

Exits 1 when a check fails: a run not all ok, a cost off the ledger, auto late or not cheaper than Standard.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from common import cores, run_cli, summary_of

from pipeline.emulator import EmulatorConfig, EmulatorThread

MODEL = "gemini-3-flash-preview"
SYSTEM = "You answer claims questions from the handbook, in one sentence."


@dataclass(frozen=True, slots=True)
class Way:
    name: str
    tier: str
    cached: bool


WAYS = (
    Way("standard", "standard", False),
    Way("flex", "flex", False),
    Way("auto", "auto", False),
    Way("cached", "standard", True),
)


def write_inputs(directory: Path, rows: int) -> Path:
    media = directory / "media"
    media.mkdir()
    rules = " ".join(
        f"Rule {i}: a claim of type {i % 37} filed within {i % 90 + 1} days is paid in full."
        for i in range(300)
    )
    (media / "handbook.txt").write_text(rules, encoding="utf-8")  # ~24,000 characters
    with (directory / "rows.jsonl").open("w", encoding="utf-8") as out:
        for i in range(rows):
            prompt = (
                f"Claim {i}: type {i % 37}, filed after {i % 120} days. Is it paid?"
            )
            out.write(json.dumps({"id": f"claim-{i:05d}", "prompt": prompt}) + "\n")
    return media


def write_job(
    directory: Path,
    way: Way,
    base_url: str,
    *,
    concurrency: int,
    deadline: str | None,
) -> Path:
    limits = [f"concurrency = {concurrency}", "max_attempts = 6"]
    if deadline is not None:
        limits.append(f'deadline = "{deadline}"')
    lines = [
        f'name = "tiers-{way.name}"',
        "[provider]",
        'kind = "gemini"',
        f'model = "{MODEL}"',
        f"base_url = {json.dumps(base_url)}",
        "[input]",
        f"path = {json.dumps(str(directory / 'rows.jsonl'))}",
        f"media_dir = {json.dumps(str(directory / 'media'))}",
        "[prompt]",
        f"system = {json.dumps(SYSTEM)}",
        "[generation]",
        'thinking_level = "low"',
        f'service_tier = "{way.tier}"',
        "[limits]",
        *limits,
        "[cache]",
        f"enabled = {'true' if way.cached else 'false'}",
        'files = ["handbook.txt"]',
        "",
    ]
    job = directory / f"{way.name}.toml"
    job.write_text("\n".join(lines), encoding="utf-8")
    return job


def run_way(way: Way, directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    config = EmulatorConfig(
        port=0,
        api_key=None,
        seed=args.seed,
        latency_ms=args.latency_ms,
        flex_latency_s=args.flex_latency_s,
        flex_jitter=0.5,
    )
    with EmulatorThread(config) as emulator:
        deadline = None
        if way.tier == "auto":
            moment = datetime.now().astimezone() + timedelta(seconds=args.deadline_s)
            deadline = moment.isoformat(timespec="seconds")
        job = write_job(
            directory,
            way,
            emulator.base_url,
            concurrency=args.concurrency,
            deadline=deadline,
        )
        out = directory / f"out-{way.name}"
        client = run_cli(job, out, timeout_s=3600)
        finished = datetime.now().astimezone()
        ledger = emulator.ledger()
    summary = summary_of(out)
    served = summary.get("tiers", {}).get("served", {})
    return {
        "way": way.name,
        "returncode": client.returncode,
        "stderr": client.stderr,
        "wall_s": client.wall_s,
        "ok": summary["rows"]["ok"],
        "served": {tier: int(entry["rows"]) for tier, entry in served.items()},
        "cost_usd": float(summary["cost_usd"]),
        "ledger_usd": float(ledger["cost_usd"]),
        "cache_usd": float(summary.get("cache", {}).get("cost_usd", 0.0)),
        "deadline": deadline,
        "late_s": None
        if deadline is None
        else (finished - datetime.fromisoformat(deadline)).total_seconds(),
    }


def client_core() -> str:
    _, client = cores()
    where = "shares the cores" if client is None else f"pinned to core {client}"
    return f"emulator in this process, client {where}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--flex-latency-s", type=float, default=2.0)
    parser.add_argument("--deadline-s", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep", type=Path, help="keep the jobs and run directories here"
    )
    args = parser.parse_args()
    directory = Path(args.keep or tempfile.mkdtemp(prefix="bench-tiers-"))
    directory.mkdir(parents=True, exist_ok=True)
    write_inputs(directory, args.rows)
    print(
        f"{args.rows:,} rows on {MODEL}, concurrency {args.concurrency}, Standard latency {args.latency_ms:g} ms, "
        f"Flex +{args.flex_latency_s:g} s (x0.5-1.5), seed {args.seed}; {client_core()}",
        flush=True,
    )
    results = []
    try:
        for way in WAYS:
            print(f"  running {way.name} ...", flush=True)
            results.append(run_way(way, directory, args))
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)
    standard = results[0]["cost_usd"]
    print()
    print(
        f"{'way':<10}{'wall s':>8}{'rows ok':>9}  {'served':<28}{'cost $':>10}{'ledger $':>10}{'vs standard':>13}"
    )
    problems = []
    for result in results:
        served = ", ".join(
            f"{n:,} {tier}" for tier, n in sorted(result["served"].items())
        )
        ratio = result["cost_usd"] / standard if standard else 0.0
        print(
            f"{result['way']:<10}{result['wall_s']:>8.1f}{result['ok']:>9,}  {served:<28}"
            f"{result['cost_usd']:>10.4f}{result['ledger_usd']:>10.4f}{ratio:>12.2f}x"
        )
        if result["returncode"] != 0 or result["ok"] != args.rows:
            problems.append(
                f"{result['way']}: exit {result['returncode']}, {result['ok']} ok\n{result['stderr'][-2000:]}"
            )
        if abs(result["cost_usd"] - result["ledger_usd"]) > max(
            1e-6, 1e-5 * result["ledger_usd"]
        ):
            problems.append(
                f"{result['way']}: cost ${result['cost_usd']:.6f} != ledger ${result['ledger_usd']:.6f}"
            )
    auto = results[2]
    print(
        f"\nauto: deadline {auto['deadline']} ({args.deadline_s:g} s after its start), finished "
        f"{-auto['late_s']:.1f} s before it; cost {auto['cost_usd'] / standard:.2f}x all-Standard"
    )
    cached = results[3]
    print(
        f"cached: the cache's creation and storage cost ${cached['cache_usd']:.4f} of its ${cached['cost_usd']:.4f}"
    )
    if auto["late_s"] > 0:
        problems.append(f"auto finished {auto['late_s']:.1f} s after its deadline")
    if not auto["cost_usd"] < standard:
        problems.append("auto did not cost less than all-Standard")
    if not results[1]["wall_s"] > args.deadline_s:
        problems.append(
            "all-Flex met the deadline too: raise --flex-latency-s or lower --deadline-s"
        )
    for problem in problems:
        print(f"FAIL {problem}")
    print("verdict:", "PASS" if not problems else "FAIL")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
