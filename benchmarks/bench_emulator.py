"""How many small generateContent requests per second the emulator serves on one core.

The emulator runs in a subprocess pinned to one core with zero latency; this process drives it
from the other core with aiohttp over many keep-alive connections for about ten seconds, then
prints requests per second and the p50 / p99 latency seen by the client.

    python benchmarks/bench_emulator.py [--seconds 10] [--connections 64] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
MODEL = "gemini-3-flash-preview"
SERVER = """
import os, sys
os.sched_setaffinity(0, {{{core}}})
from pipeline.emulator import EmulatorConfig, serve_forever
config = EmulatorConfig(port=0, api_key="bench")
if {profile!r}:
    import cProfile, signal
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        serve_forever(config, lambda url: print(url, flush=True))
    finally:
        profiler.disable()
        profiler.dump_stats({profile!r})
else:
    serve_forever(config, lambda url: print(url, flush=True))
"""


async def drive(base_url: str, seconds: float, connections: int) -> tuple[int, int, list[float]]:
    url = f"{base_url}/v1beta/models/{MODEL}:generateContent"
    headers = {"x-goog-api-key": "bench", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    counter = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            body = b'{"contents":[{"role":"user","parts":[{"text":"Summarise row %d in one line"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"low"}}}' % counter
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return len(latencies), errors, latencies


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--profile", default="", help="write a cProfile of the server to this file")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_core = cores[0], cores[-1]
    code = SERVER.format(core=server_core, profile=args.profile)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if len(cores) > 1:
            os.sched_setaffinity(0, {client_core})
        asyncio.run(drive(base_url, 1.0, args.connections))  # warm up
        cpu_before = _cpu_seconds(proc.pid)
        started = time.perf_counter()
        count, errors, latencies = asyncio.run(drive(base_url, args.seconds, args.connections))
        elapsed = time.perf_counter() - started
        server_cpu = (_cpu_seconds(proc.pid) - cpu_before) / elapsed
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"server core {server_core}, client core {client_core}, {args.connections} connections, {elapsed:.1f} s")
    print(f"server busy {server_cpu:.0%} of its core; capacity about {count / elapsed / max(server_cpu, 1e-9):,.0f} requests/s")
    print(f"{count} requests, {errors} errors: {count / elapsed:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
