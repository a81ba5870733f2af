"""How many small generateContent requests per second the emulator serves on one core.

The emulator runs in a subprocess pinned to one core with zero latency; this process drives it
from the other core over many keep-alive connections (a bare asyncio HTTP client by default, aiohttp's
with --client aiohttp) for about ten seconds, then
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


class _Conn(asyncio.Protocol):
    """A bare keep-alive HTTP/1.1 client: one request at a time, responses framed by Content-Length.

    The aiohttp client costs more CPU per request than the emulator does, so on a two-core machine
    it cannot saturate the server; this one can (use --client aiohttp to compare).
    """

    def __init__(
        self, host: str, path: str, deadline: float, done: asyncio.Future[None]
    ) -> None:
        self.head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nx-goog-api-key: bench\r\nContent-Type: application/json\r\n"
        self.deadline, self.done = deadline, done
        self.buffer = b""
        self.latencies: list[float] = []
        self.errors = 0
        self.counter = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        self.counter += 1
        body = (
            b'{"contents":[{"role":"user","parts":[{"text":"Summarise row %d of %d in one line"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"low"}}}'
            % (self.counter, id(self))
        )
        self.started = time.perf_counter()
        assert self.transport is not None
        self.transport.write(
            self.head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length :]
        now = time.perf_counter()
        self.latencies.append(now - self.started)
        if not head.startswith("HTTP/1.1 200"):
            self.errors += 1
        if now < self.deadline:
            self._send()
        elif not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def drive_raw(
    base_url: str, seconds: float, connections: int
) -> tuple[int, int, list[float]]:
    loop = asyncio.get_running_loop()
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    deadline = time.perf_counter() + seconds
    conns: list[_Conn] = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        _, conn = await loop.create_connection(
            lambda d=done: _Conn(
                f"{host}:{port}", f"/v1beta/models/{MODEL}:generateContent", deadline, d
            ),
            host,
            int(port),
        )
        conns.append(conn)
    await asyncio.gather(*(c.done for c in conns))
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    latencies = [x for c in conns for x in c.latencies]
    return len(latencies), sum(c.errors for c in conns), latencies


async def drive(
    base_url: str, seconds: float, connections: int
) -> tuple[int, int, list[float]]:
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
            body = (
                b'{"contents":[{"role":"user","parts":[{"text":"Summarise row %d in one line"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"low"}}}'
                % counter
            )
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--profile", default="", help="write a cProfile of the server to this file"
    )
    parser.add_argument(
        "--client",
        choices=("raw", "aiohttp"),
        default="raw",
        help="load generator (default: raw asyncio)",
    )
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_core = cores[0], cores[-1]
    code = SERVER.format(core=server_core, profile=args.profile)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if len(cores) > 1:
            os.sched_setaffinity(0, {client_core})
        run = drive_raw if args.client == "raw" else drive
        asyncio.run(run(base_url, 1.0, args.connections))  # warm up
        cpu_before = _cpu_seconds(proc.pid)
        client_before = time.process_time()
        started = time.perf_counter()
        count, errors, latencies = asyncio.run(
            run(base_url, args.seconds, args.connections)
        )
        elapsed = time.perf_counter() - started
        server_cpu = (_cpu_seconds(proc.pid) - cpu_before) / elapsed
        client_cpu = (time.process_time() - client_before) / elapsed
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(
        f"server core {server_core}, client core {client_core} ({args.client}), {args.connections} connections, {elapsed:.1f} s"
    )
    print(
        f"server busy {server_cpu:.0%} of its core, client {client_cpu:.0%} of its own; capacity about {count / elapsed / max(server_cpu, 1e-9):,.0f} requests/s"
    )
    print(
        f"{count} requests, {errors} errors: {count / elapsed:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )


if __name__ == "__main__":
    main()
