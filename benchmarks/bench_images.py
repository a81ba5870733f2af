"""Image generation at 4K: the client's peak memory stays under 1 GB, and how many images per second it writes.

Every 4K reply carries a JPEG of several MB as base64 (the emulator's are about 3.9 MB at 5504x3072, 5.2 MB
of base64), and a run has `concurrency` of them in flight at once. The client has to read each body, decode
the image and write it to DIR/images/ without keeping more than a few of them around, whatever the number of
rows. This benchmark runs `pipeline run` as a user does, in its own process (pinned to its own core when there
are two), against `pipeline emulator` in another, and reports:

- the client's peak RSS (its own `ru_maxrss` from `os.wait4`, with psutil samples as a cross-check);
- images per second over the client's whole life (interpreter start to exit) and over the run itself
  (`summary.json`'s wall time), and MB of images written per second;
- a check of what was written: every row `ok`, one image per row, each file's sha256 and size as its row says.

    python benchmarks/bench_images.py [--images 200] [--concurrency 32] [--size 4K] [--ratio 16:9]
                                       [--latency-ms 0] [--limit-mb 1000] [--keep DIR]

Exits 1 when the peak RSS is over `--limit-mb` or any check fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.dataset as ds
from common import MB, Emulator, describe_cores, run_cli, summary_of

MODEL = "gemini-3-pro-image"


def write_image_job(
    directory: Path,
    base_url: str,
    *,
    images: int,
    concurrency: int,
    size: str,
    ratio: str,
) -> Path:
    rows = directory / "prompts.jsonl"
    with rows.open("w", encoding="utf-8") as out:
        for i in range(images):
            prompt = (
                f"Poster {i}: a lighthouse on a rocky coast at dawn, flat vector style."
            )
            out.write(json.dumps({"id": f"img-{i:05d}", "prompt": prompt}) + "\n")
    job = directory / "images.toml"
    job.write_text(
        "\n".join(
            [
                'name = "bench-images"',
                "[provider]",
                'kind = "gemini"',
                f'model = "{MODEL}"',
                f"base_url = {json.dumps(base_url)}",
                "[input]",
                f"path = {json.dumps(str(rows))}",
                "[generation]",
                'response_modalities = ["TEXT", "IMAGE"]',
                f'image_size = "{size}"',
                f'image_aspect_ratio = "{ratio}"',
                "[limits]",
                f"concurrency = {concurrency}",
                "max_attempts = 3",
                "request_timeout_s = 300.0",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return job


def check_output(out: Path, images: int) -> tuple[list[str], int]:
    """(problems found, bytes of images written): every row ok with one image whose file matches its row."""
    problems: list[str] = []
    total = 0
    rows = ds.dataset(out / "results").to_table().to_pylist()
    if len(rows) != images:
        problems.append(f"{len(rows)} result rows, expected {images}")
    for row in rows:
        if row["status"] != "ok" or len(row["images"] or []) != 1:
            problems.append(
                f"{row['id']}: {row['status']} {row['error_code']} with {len(row['images'] or [])} images"
            )
            continue
        image = row["images"][0]
        digest = hashlib.sha256()
        size = 0
        with (out / image["path"]).open("rb") as file:
            while chunk := file.read(MB):
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != image["sha256"] or size != image["bytes"]:
            problems.append(f"{row['id']}: {image['path']} does not match its row")
        total += size
    files = sum(1 for _ in (out / "images").iterdir())
    if files != images:
        problems.append(f"{files} files in images/, expected {images}")
    return problems, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--size", default="4K", choices=("1K", "2K", "4K"))
    parser.add_argument("--ratio", default="16:9")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="the emulator's latency per request",
    )
    parser.add_argument(
        "--limit-mb",
        type=float,
        default=1000.0,
        help="the client's peak RSS must stay under this",
    )
    parser.add_argument(
        "--keep", type=Path, help="write the run here and keep it (default: a temp dir)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    out = args.keep or work / "out"
    try:
        with Emulator("--latency-ms", str(args.latency_ms)) as emulator:
            job = write_image_job(
                work, emulator.base_url, images=args.images, concurrency=args.concurrency,
                size=args.size, ratio=args.ratio,
            )  # fmt: skip
            run = run_cli(job, out)
            ledger = emulator.ledger()
        problems, written = (
            check_output(out, args.images)
            if run.returncode == 0
            else (["the run failed"], 0)
        )
        summary = summary_of(out) if (out / "summary.json").exists() else {}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    run_wall = float(summary.get("wall_time_s") or run.wall_s)
    print(f"bench_images: {args.images} x {args.size} {args.ratio} images, concurrency {args.concurrency}, "
          f"emulator latency {args.latency_ms:g} ms; {describe_cores()}")  # fmt: skip
    print(f"  images written        {args.images - len(problems)} ok, {written / MB:,.1f} MiB "
          f"({written / max(1, args.images) / MB:.2f} MiB each)")  # fmt: skip
    print(f"  requests (emulator)   {ledger['requests']}, tokens {ledger['tokens']}")
    print(
        f"  client wall time      {run.wall_s:.2f} s (process), {run_wall:.2f} s (run, from summary.json)"
    )
    print(f"  images per second     {args.images / run.wall_s:.2f} (process), {args.images / run_wall:.2f} (run); "
          f"{written / MB / run_wall:.1f} MiB/s written")  # fmt: skip
    print(
        f"  client peak RSS       {run.peak_rss_mb:.0f} MiB (ru_maxrss), {run.sampled_rss_mb:.0f} MiB (sampled)"
    )
    for problem in problems[:10]:
        print(f"  problem: {problem}")
    if run.returncode != 0:
        print(run.stderr[-3000:])
    passed = not problems and run.peak_rss_mb < args.limit_mb
    print(
        f"peak RSS {run.peak_rss_mb:.0f} MiB (limit {args.limit_mb:.0f} MiB): {'PASS' if passed else 'FAIL'}"
    )
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
