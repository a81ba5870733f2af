"""Uploading a large file must not grow this process's memory with the file's size.

Writes a 1 GB WAV (a real header, then sparse silence), starts `pipeline emulator` in a subprocess on a free
loopback port, uploads the file through `Uploads` (8 MiB `FileSlice` chunks, streamed by the aiohttp
transport), and samples this process's RSS every 5 ms. The peak growth over the baseline taken just
before the upload must stay at or under 100 MB (`--limit-mb`); the file is hashed before the baseline,
as `probe_media` does it once per file.

    python benchmarks/bench_upload_memory.py [--size-mb 1000] [--limit-mb 100]

Exits 1 when the limit is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Self

import psutil

from pipeline.input.media._probe import probe_media
from pipeline.input.media._uploads import Uploads
from pipeline.providers import GeminiProvider, StaticCredentials
from pipeline.records import UploadedFile
from pipeline.transport import HttpTransport

MB = 1_000_000
KEY = "bench-key"


def write_sparse_wav(path: Path, size: int) -> None:
    """A mono 16-bit 8 kHz WAV of `size` bytes whose samples are a hole in the file (no disk used)."""
    data = size - 44
    header = b"".join(
        [
            b"RIFF", (36 + data).to_bytes(4, "little"), b"WAVEfmt ", (16).to_bytes(4, "little"),
            (1).to_bytes(2, "little"), (1).to_bytes(2, "little"), (8_000).to_bytes(4, "little"),
            (16_000).to_bytes(4, "little"), (2).to_bytes(2, "little"), (16).to_bytes(2, "little"),
            b"data", data.to_bytes(4, "little"),
        ]
    )  # fmt: skip
    with path.open("wb") as handle:
        handle.write(header)
        handle.truncate(size)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "emulator",
        "--port",
        str(port),
        "--api-key",
        KEY,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/_emulator/ledger", timeout=1
            ).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the emulator did not start within 30 s")


class RssSampler:
    """The highest RSS of this process, sampled on a thread every `interval_s`."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self._process = psutil.Process()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak = self.baseline = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self._interval_s)

    def __enter__(self) -> Self:
        self.baseline = self.peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


class Store:
    def __init__(self) -> None:
        self.uploads: dict[str, UploadedFile] = {}

    def get_upload(self, sha256: str) -> UploadedFile | None:
        return self.uploads.get(sha256)

    def put_upload(self, sha256: str, upload: UploadedFile) -> None:
        self.uploads[sha256] = upload

    def forget_upload(self, sha256: str) -> None:
        self.uploads.pop(sha256, None)


async def upload(path: Path, port: int) -> tuple[float, float, int]:
    """(peak RSS growth in MB, seconds, bytes uploaded)."""
    media = probe_media(path, "audio/wav", media_resolution=None, ref_path=path.name)
    credentials = StaticCredentials("GEMINI_API_KEY", "x-goog-api-key", KEY)
    provider = GeminiProvider(
        model="gemini-3.1-pro-preview",
        credentials=credentials,
        base_url=f"http://127.0.0.1:{port}",
    )
    async with HttpTransport(concurrency=4) as transport:
        uploads = Uploads(provider, transport.send, Store(), poll_interval_s=0.1)
        with RssSampler() as rss:
            started = time.perf_counter()
            part = await uploads.file_part(media)
            seconds = time.perf_counter() - started
    assert part.file_uri, "no file URI came back"
    return (rss.peak - rss.baseline) / MB, seconds, media.size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1_000)
    parser.add_argument("--limit-mb", type=float, default=100.0)
    args = parser.parse_args()
    port = free_port()
    emulator = start_emulator(port)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
            path = Path(tmp) / "big.wav"
            write_sparse_wav(path, args.size_mb * MB)
            growth, seconds, size = asyncio.run(upload(path, port))
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    verdict = "ok" if growth <= args.limit_mb else "OVER THE LIMIT"
    print(
        f"uploaded {size / MB:,.0f} MB in {seconds:.1f} s ({size / MB / seconds:,.0f} MB/s); "
        f"peak RSS growth {growth:.1f} MB (limit {args.limit_mb:g} MB): {verdict}"
    )
    return 0 if growth <= args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
