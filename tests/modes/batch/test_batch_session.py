"""The never-twice protocol at the seams the CLI cannot reach: a create whose answer is lost, a create the
quota refuses, and media, keep_fields and row overrides going through a job and back."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from support import JobWriter

from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.engine import RunOptions
from pipeline.errors import RunRefused, TransportError
from pipeline.modes.batch import run_batch
from pipeline.records import HttpRequest, HttpResponse
from pipeline.spec import load_spec
from pipeline.transport import HttpTransport

ENV = {"GEMINI_API_KEY": "session-key"}
FAST = {"poll_interval_s": 0.1, "max_poll_interval_s": 0.3}


class LosingTransport:
    """The real transport, except that the first `lose` create calls reach the server and their answer
    never comes back (a reset after the server acted): what a kill -9 mid-create looks like to the run."""

    def __init__(self, inner: HttpTransport, lose: int = 1) -> None:
        self.inner = inner
        self.lose = lose
        self.creates = 0

    async def send(self, request: HttpRequest) -> HttpResponse:
        response = await self.inner.send(request)
        if request.url.endswith(":batchGenerateContent"):
            self.creates += 1
            if self.lose > 0:
                self.lose -= 1
                raise TransportError(
                    "connection reset: the answer was lost", code="CONNECTION_RESET"
                )
        return response

    async def download(self, request: HttpRequest, path: str) -> HttpResponse:
        return await self.inner.download(request, path)


def results(out: Path) -> dict[str, dict[str, Any]]:
    return {
        str(row["id"]): row
        for row in ds.dataset(out / "results").to_table().to_pylist()
    }


async def test_a_lost_create_answer_is_looked_up_not_sent_again(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"a{i}", "prompt": f"a{i} hello"} for i in range(25)]
    with EmulatorThread(EmulatorConfig(port=0, batch_pending_s=0.1)) as emu:
        spec = load_spec(
            make_job(
                rows,
                provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
                batch=FAST,
            )
        )
        async with HttpTransport(concurrency=4) as inner:
            transport = LosingTransport(inner)
            result = await run_batch(
                spec,
                RunOptions(out_dir=tmp_path / "out", environ=ENV, handle_signals=False),
                transport=transport,
            )
        ledger = emu.ledger()["batch"]
    assert result.stopped is None
    assert transport.creates == 1 and ledger["jobs_created"] == 1
    assert Counter(r["status"] for r in results(tmp_path / "out").values()) == {
        "ok": 25
    }


async def test_keep_fields_row_overrides_and_media_survive_the_round_trip(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "note.txt").write_text("a note to read " * 20)
    rows = [
        {"id": "plain", "prompt": "plain hello", "title": "T1"},
        {
            "id": "json",
            "prompt": "json hello",
            "title": "T2",
            "generation": {"response_mime_type": "application/json"},
        },
        {"id": "file", "prompt": "file hello", "title": "T3", "media": ["note.txt"]},
        {"id": "gone", "prompt": "gone hello", "media": ["missing.txt"]},
    ]
    with EmulatorThread(EmulatorConfig(port=0, batch_pending_s=0.1)) as emu:
        spec = load_spec(
            make_job(
                rows,
                provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
                input={"media_dir": str(media)},
                output={"keep_fields": ["title"]},
                batch=FAST,
            )
        )
        result = await run_batch(
            spec,
            RunOptions(out_dir=tmp_path / "out", environ=ENV, handle_signals=False),
        )
    assert result.stopped is None
    table = results(tmp_path / "out")
    assert {k: r["status"] for k, r in table.items()} == {
        "plain": "ok",
        "json": "ok",
        "file": "ok",
        "gone": "invalid",
    }
    assert [table[k]["title"] for k in ("plain", "json", "file")] == ["T1", "T2", "T3"]
    assert json.loads(str(table["json"]["json"])) == {
        "reply": json.loads(str(table["json"]["json"]))["reply"]
    }
    assert table["plain"]["json"] is None
    assert "missing.txt" in str(table["gone"]["error_message"])
    # the text file's tokens were sent inline, in the batch line
    assert int(table["file"]["input_tokens"]) > int(table["plain"]["input_tokens"]) + 50


async def test_generated_images_are_written_as_online(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"img/{i}", "prompt": f"a red square number {i}"} for i in range(3)]
    with EmulatorThread(EmulatorConfig(port=0, batch_pending_s=0.1)) as emu:
        spec = load_spec(
            make_job(
                rows,
                provider={"model": "gemini-3-pro-image", "base_url": emu.base_url},
                generation={"image_size": "1K"},
                batch=FAST,
            )
        )
        result = await run_batch(
            spec,
            RunOptions(out_dir=tmp_path / "out", environ=ENV, handle_signals=False),
        )
    assert result.stopped is None
    table = results(tmp_path / "out")
    assert {r["status"] for r in table.values()} == {"ok"}
    for row in table.values():
        (image,) = row["images"]
        path = tmp_path / "out" / image["path"]
        assert path.is_file() and path.stat().st_size == image["bytes"]
        assert path.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
        assert float(row["cost_usd"]) > 0


class GoneResults(LosingTransport):
    """Result files answer 404 (past their retention): the run must stop waiting, and not send the rows again."""

    async def download(self, request: HttpRequest, path: str) -> HttpResponse:
        body = b'{"error": {"code": 404, "message": "File not found.", "status": "NOT_FOUND"}}'
        return HttpResponse(404, {}, body)


async def test_results_that_cannot_be_downloaded_stop_the_run_without_resending(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"g{i}", "prompt": f"g{i} hello"} for i in range(10)]
    out = tmp_path / "out"
    with EmulatorThread(EmulatorConfig(port=0, batch_pending_s=0.1)) as emu:
        spec = load_spec(
            make_job(
                rows,
                provider={"model": "gemini-3-flash-preview", "base_url": emu.base_url},
                batch=FAST,
            )
        )
        options = RunOptions(out_dir=out, environ=ENV, handle_signals=False)
        async with HttpTransport(concurrency=4) as inner:
            stopped = await run_batch(
                spec, options, transport=GoneResults(inner, lose=0)
            )
        assert isinstance(stopped.stopped, RunRefused)
        assert "cannot be downloaded" in str(stopped.stopped)
        assert {r["error_code"] for r in results(out).values()} == {"BATCH_RUNNING"}
        again = await run_batch(spec, options)
        ledger = emu.ledger()["batch"]
    assert again.stopped is None
    assert {r["status"] for r in results(out).values()} == {"ok"}
    assert ledger["jobs_created"] == 1
