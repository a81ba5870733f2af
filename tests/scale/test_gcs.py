"""gs:// through the same `Location` code, against gcp-storage-emulator (PyPI) on 127.0.0.1.

Covered: writes, metadata, listing, streamed reads and JSONL rows. Not covered: ranged reads (Parquet input,
media, shards), which hang against this emulator (it does not answer pyarrow's ranged GETs); they are the code
S3 runs, tested there.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import write_toml

from pipeline.input import count_rows, iter_rows
from pipeline.spec import load_spec
from pipeline.storage import location

emulator = pytest.importorskip(
    "gcp_storage_emulator.server",
    reason="the GCS test needs gcp-storage-emulator: pip install -e '.[scale]'",
)


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = emulator.create_server(
        "127.0.0.1", port, in_memory=True, default_bucket="rows"
    )
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        yield "rows"
    finally:
        server.stop()


def test_gs_urls_read_write_list_and_stream_rows(gcs: str, tmp_path: Path) -> None:
    root = location(f"gs://{gcs}/job")
    rows = [{"id": f"g{i}", "prompt": f"p{i}"} for i in range(5)]
    (root / "rows.jsonl").write_bytes(
        "".join(json.dumps(row) + "\n" for row in rows).encode()
    )
    assert (root / "rows.jsonl").info().size > 0
    assert root.list_files() == [("rows.jsonl", (root / "rows.jsonl").info().size)]
    local = tmp_path / "copy.jsonl"
    (root / "rows.jsonl").download(local)
    (root / "copy.jsonl").upload(local)
    assert (root / "copy.jsonl").read_bytes() == local.read_bytes()
    spec = load_spec(
        write_toml(
            tmp_path / "job.toml",
            {"name": "gcs"},
            {
                "provider": {"kind": "gemini", "model": "gemini-3.1-pro-preview"},
                "input": {"path": f"gs://{gcs}/job/rows.jsonl"},
            },
        )
    )
    assert count_rows(spec.input.path) == 5
    assert [row.id for row in iter_rows(spec)] == [f"g{i}" for i in range(5)]
