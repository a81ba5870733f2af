"""Object storage end to end against a local S3 server (moto): rows and media read from S3, results written
to S3, a run killed on one machine resumed on another from the bucket alone, `pipeline status s3://...`."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from conftest import S3
from PIL import Image
from support import ROOT, run_cli, write_toml

from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.input import count_rows, iter_rows, plan_shards
from pipeline.spec import load_spec
from pipeline.storage import location

KEY = {"GEMINI_API_KEY": "s3-key"}


def png_bytes(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def put(s3: S3, bucket: str, key: str, data: bytes) -> str:
    s3.client().put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def remote_results(s3: S3, url: str) -> list[dict[str, object]]:
    path = url.removeprefix("s3://") + "/results"
    return (
        ds.dataset(path, filesystem=s3.filesystem(), format="parquet")
        .to_table()
        .to_pylist()
    )


def s3_job(tmp_path: Path, rows_url: str, **tables: dict[str, object]) -> Path:
    spec: dict[str, dict[str, object]] = {
        "provider": {"kind": "gemini", "model": "gemini-3.1-pro-preview"},
        "input": {"path": rows_url},
        "limits": {"concurrency": 8, "max_attempts": 3, "request_timeout_s": 10.0},
    }
    for table, entries in tables.items():
        spec.setdefault(table, {}).update(entries)
    return write_toml(tmp_path / "job.toml", {"name": "s3job"}, spec)


def test_location_reads_writes_lists_and_streams(s3: S3, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    root = location(f"s3://{bucket}/dir/")
    assert str(root) == f"s3://{bucket}/dir" and root.is_remote
    target = root / "a" / "b.txt"
    assert not target.exists()
    target.write_bytes(b"hello\nworld\n")
    assert target.is_file() and target.info().size == 12 and root.is_dir()
    with target.open_input() as file:
        file.seek(6)
        assert file.read() == b"world\n"
    assert list(target.open_stream()) == [b"hello\n", b"world\n"]
    local = tmp_path / "copy.txt"
    target.download(local)
    (root / "c.bin").upload(local)
    assert root.list_files() == [("a/b.txt", 12), ("c.bin", 12)]
    (root / "c.bin").delete()
    (root / "c.bin").delete()  # twice: nothing there is fine
    assert [name for name, _ in root.list_files()] == ["a/b.txt"]
    assert target.name == "b.txt" and target.suffix == ".txt"
    assert target.parent == root / "a"


def test_rows_stream_from_s3_and_shards_cover_them_exactly(
    s3: S3, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    lines = [json.dumps({"id": f"r{i}", "prompt": f"p{i}"}) for i in range(10)]
    lines.insert(3, "")  # a blank line: no row, but it counts in line numbers
    lines.append(
        json.dumps({"id": "r2", "prompt": "again"})
    )  # a duplicate across shards
    url = put(s3, bucket, "in/rows.jsonl", ("\n".join(lines) + "\n").encode())
    spec = load_spec(s3_job(tmp_path, url))
    assert spec.input.path == url
    whole = list(iter_rows(spec))
    assert count_rows(url) == len(whole) == 11
    for size in (1, 3, 4, 100):
        shards = plan_shards(url, size)
        assert sum(shard.rows for shard in shards) == 11
        from dataclasses import replace

        pieces = [
            row
            for shard in shards
            for row in iter_rows(replace(spec, input=replace(spec.input, shard=shard)))
        ]
        assert [(r.id, r.line) for r in pieces] == [(r.id, r.line) for r in whole]
    assert whole[-1].id == "r2#line12"


def test_a_job_reads_rows_and_media_from_s3_and_writes_results_to_s3(
    s3: S3, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    put(s3, bucket, "media/pics/red.png", png_bytes("red"))
    put(s3, bucket, "media/notes.txt", b"some notes to read\n" * 50)
    rows = [
        {"id": "a", "prompt": "describe", "media": ["pics/red.png"]},
        {"id": "b", "prompt": "summarise", "media": ["notes.txt"]},
        {"id": "c", "prompt": "plain text only"},
        {"id": "d", "prompt": "missing", "media": ["pics/nope.png"]},
    ]
    rows_url = put(
        s3, bucket, "in/rows.jsonl", "\n".join(json.dumps(r) for r in rows).encode()
    )
    out = f"s3://{bucket}/runs/one"
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = s3_job(
            tmp_path,
            rows_url,
            provider={"base_url": emulator.base_url},
            input={"media_dir": f"s3://{bucket}/media/"},
        )
        done = run_cli("run", str(job), "--out", out, "--quiet", env={**s3.env, **KEY})
        assert done.returncode == 1, done.stderr  # one row is invalid
        ledger = emulator.ledger()
        status = run_cli("status", out, env=s3.env)
    table = {row["id"]: row for row in remote_results(s3, out)}
    assert {k: v["status"] for k, v in table.items()} == {
        "a": "ok",
        "b": "ok",
        "c": "ok",
        "d": "invalid",
    }
    assert "no such file" in str(table["d"]["error_message"])
    assert int(ledger["requests"]) == 3
    keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert {
        "runs/one/journal.sqlite",
        "runs/one/checkpoint.json",
        "runs/one/summary.json",
    } <= keys
    assert status.returncode == 0, status.stderr
    assert "3 ok" in status.stdout and "1 invalid" in status.stdout
    assert out in status.stdout


def test_generated_images_are_written_to_the_remote_directory(
    s3: S3, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    rows = [{"id": f"img{i}", "prompt": f"a lighthouse, take {i}"} for i in range(3)]
    rows_url = put(
        s3, bucket, "rows.jsonl", "\n".join(json.dumps(r) for r in rows).encode()
    )
    out = f"s3://{bucket}/images-run"
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        job = s3_job(
            tmp_path,
            rows_url,
            provider={
                "base_url": emulator.base_url,
                "model": "gemini-3-pro-image",
            },
            generation={"response_modalities": ["TEXT", "IMAGE"]},
        )
        done = run_cli("run", str(job), "--out", out, "--quiet", env={**s3.env, **KEY})
    assert done.returncode == 0, done.stderr
    table = remote_results(s3, out)
    paths = [image["path"] for row in table for image in row["images"]]
    assert len(paths) == 3
    for path in paths:
        assert (location(out) / path).is_file()
    # the local cache keeps no image once it is in the bucket
    cache = Path(os.environ["PIPELINE_CACHE_DIR"])
    assert not list(cache.rglob("*.jpg")) and not list(cache.rglob("*.png"))


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def paid_twice(ledger: dict[str, object]) -> int:
    bodies = ledger["requests_by_body"]
    assert isinstance(bodies, list)
    return sum(max(0, int(body["ok"]) - 1) for body in bodies)


def checkpointed_rows(s3: S3, out: str, tmp_path: Path) -> int:
    import sqlite3

    local = tmp_path / "peek.sqlite"
    (location(out) / "journal.sqlite").download(local)
    with sqlite3.connect(local) as conn:
        (count,) = conn.execute("SELECT count(*) FROM outcomes").fetchone()
    return int(count)


@pytest.mark.slow
def test_a_run_killed_on_one_machine_resumes_on_another_from_the_bucket(
    s3: S3, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    concurrency = 8
    rows = [{"id": f"k{i:04d}", "prompt": f"k{i:04d} summarise"} for i in range(400)]
    rows_url = put(
        s3, bucket, "rows.jsonl", "\n".join(json.dumps(r) for r in rows).encode()
    )
    out = f"s3://{bucket}/killed"
    machine_a = {**s3.env, **KEY, "PIPELINE_CACHE_DIR": str(tmp_path / "machine-a")}
    machine_b = {**s3.env, **KEY, "PIPELINE_CACHE_DIR": str(tmp_path / "machine-b")}
    # 8 in flight at 100 ms each: about 80 rows/s, 5 s for the whole job
    with EmulatorThread(EmulatorConfig(port=0, latency_ms=100.0)) as emulator:
        job = s3_job(
            tmp_path,
            rows_url,
            provider={"base_url": emulator.base_url},
            limits={"concurrency": concurrency},
        )
        first = start_cli(
            "run", str(job), "--out", out, "--quiet", "--checkpoint-s", "0.5",
            env=machine_a,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while int(emulator.ledger()["requests"]) < 120:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        answered = int(emulator.ledger()["requests"])
        saved = checkpointed_rows(s3, out, tmp_path)
        assert 0 < saved < 400
        status = run_cli("status", out, env=machine_b)
        assert status.returncode == 0, status.stderr
        assert f"{saved:,} ok" in status.stdout
        second = run_cli(
            "run", str(job), "--out", out, "--quiet", env=machine_b, timeout=300
        )
        ledger = emulator.ledger()
    assert second.returncode == 0, second.stderr
    table = remote_results(s3, out)
    assert len(table) == 400 and len({r["id"] for r in table}) == 400
    assert Counter(str(r["status"]) for r in table) == {"ok": 400}
    # Machine B only had the bucket: it pays again for what A journaled after its last checkpoint and for
    # A's requests in flight, never for a row in the checkpoint.
    assert paid_twice(ledger) <= answered - saved + concurrency
    assert int(ledger["requests"]) - answered <= 400 - saved + concurrency
