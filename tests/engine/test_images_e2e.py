"""Image generation and editing end to end: `pipeline run` against the emulator, checked file by file.

Each test runs the CLI as a user does and then reads what a user reads: the files under DIR/images/, the
Parquet rows that describe them, and the emulator's ledger of what was asked and billed. Prices are written
out here rather than read from `pricing.py`, so a wrong table fails these tests.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner
from PIL import Image
from support import ROOT, JobWriter, run_cli

from pipeline.cli._commands import cli
from pipeline.emulator import EmulatorConfig, EmulatorThread

KEY = {"GEMINI_API_KEY": "image-key-not-real", "OPENAI_API_KEY": "image-key-not-real"}
MODEL = "gemini-3-pro-image"
# gemini-3-pro-image, USD per million tokens (reference section 6); images at the image rate.
INPUT, OUTPUT, IMAGE = 2.0, 12.0, 120.0
IMAGE_TOKENS = {"1K": 1_120, "2K": 1_120, "4K": 2_000}
IMAGE_INPUT_TOKENS = 1_120  # an input image at the default media resolution
RATIOS = {"1:1": 1.0, "16:9": 16 / 9, "9:16": 9 / 16, "21:9": 21 / 9, "4:3": 4 / 3}


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorConfig(port=0)) as server:
        yield server


class _Ran:
    """What a CLI run left for the test: its exit code and stderr."""

    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode, self.stderr = returncode, stderr


def _run(spec: Path, out: Path, *extra: str) -> _Ran:
    """`pipeline run SPEC --out OUT --quiet`: the same click command, in this process (no interpreter start-up
    per run); the kill -9 and sample-job tests run it in a subprocess, as a user does."""
    args = ["run", str(spec), "--out", str(out), "--quiet", *extra]
    result = CliRunner().invoke(cli, args, env=KEY)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return _Ran(result.exit_code, result.stderr)


def _results(out: Path) -> dict[str, dict[str, Any]]:
    return {
        row["id"]: row for row in ds.dataset(out / "results").to_table().to_pylist()
    }


def _image_job(
    make_job: JobWriter,
    emulator: EmulatorThread,
    rows: list[dict[str, Any]],
    *,
    provider: dict[str, Any] | None = None,
    **tables: dict[str, Any],
) -> Path:
    generation = {"response_modalities": ["TEXT", "IMAGE"], "image_size": "1K"}
    return make_job(
        rows,
        provider={"model": MODEL, "base_url": emulator.base_url, **(provider or {})},
        generation={**generation, **tables.pop("generation", {})},
        **tables,
    )


def _check_files(out: Path, row: dict[str, Any]) -> list[Image.Image]:
    """Every image of `row` exists inside DIR/images/, with the sha256, size and extension the row says."""
    decoded = []
    for image in row["images"]:
        path = (out / image["path"]).resolve()
        assert path.parent == (out / "images").resolve(), image["path"]
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == image["sha256"]
        assert len(data) == image["bytes"]
        assert image["mime_type"] == "image/jpeg" and path.suffix == ".jpg"
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            assert opened.format == "JPEG"
            decoded.append(opened)
    return decoded


def _row_cost(row: dict[str, Any], image_tokens: int) -> float:
    text_output = row["output_tokens"] - image_tokens + row["thinking_tokens"]
    return (
        row["input_tokens"] * INPUT + text_output * OUTPUT + image_tokens * IMAGE
    ) / 1e6


def _ok_counts(ledger: dict[str, Any]) -> list[int]:
    return [int(body["ok"]) for body in ledger["requests_by_body"]]


# --- generation ------------------------------------------------------------------------------------------------


def test_images_are_written_under_safe_names_and_match_their_rows(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    ratios = {
        "square": None,  # the spec's 1:1
        "wide": "16:9",
        "tall": "9:16",
        "cinema": "21:9",
        "../../escape": "4:3",
        "a/b\\c:d*?": None,
    }
    rows = [
        {"id": row_id, "prompt": f"draw {row_id}"}
        | ({"generation": {"image_aspect_ratio": ratio}} if ratio else {})
        for row_id, ratio in ratios.items()
    ]
    job = _image_job(make_job, emulator, rows, generation={"image_aspect_ratio": "1:1"})
    out = tmp_path / "deep" / "out"
    result = _run(job, out)
    assert result.returncode == 0, result.stderr
    results = _results(out)
    assert set(results) == set(ratios)
    for row_id, ratio in ratios.items():
        row = results[row_id]
        assert row["status"] == "ok" and row["error_code"] is None
        assert row["text"], "the text part of a TEXT+IMAGE reply goes to `text`"
        [image] = _check_files(out, row)
        width, height = image.size
        assert width / height == pytest.approx(RATIOS[ratio or "1:1"], rel=0.02)
        assert max(width, height) <= 1_600  # 1K
    # Only the images themselves: nothing escaped, no temporary file left behind.
    written = {f"images/{name}" for name in os.listdir(out / "images")}
    assert written == {row["images"][0]["path"] for row in results.values()}
    # The hostile id's image is the one file named after it anywhere under tmp_path, and it is in DIR/images.
    escaped = [path for path in tmp_path.rglob("*escape*") if path.is_file()]
    assert [path.parent for path in escaped] == [out / "images"]


def test_cost_counts_image_tokens_at_the_image_price(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    sizes = {"s1": "1K", "s2": "2K", "s4": "4K"}
    rows = [
        {
            "id": row_id,
            "prompt": f"a lighthouse {row_id}",
            "generation": {"image_size": size},
        }
        for row_id, size in sizes.items()
    ]
    job = _image_job(
        make_job, emulator, rows, generation={"response_modalities": ["IMAGE"]}
    )
    out = tmp_path / "out"
    result = _run(job, out)
    assert result.returncode == 0, result.stderr
    results = _results(out)
    for row_id, size in sizes.items():
        row = results[row_id]
        [image] = _check_files(out, row)
        assert (
            image.size
            == {"1K": (1024,) * 2, "2K": (2048,) * 2, "4K": (4096,) * 2}[size]
        )
        assert row["text"] is None  # IMAGE only: no text part
        assert row["cost_usd"] == pytest.approx(
            _row_cost(row, IMAGE_TOKENS[size]), rel=1e-9
        )
    # 4K costs $0.24 of image tokens, 1K and 2K $0.1344 each.
    image_cost = results["s4"]["cost_usd"] - _row_cost(results["s4"], 0)
    assert image_cost == pytest.approx(2_000 * (IMAGE - OUTPUT) / 1e6)
    assert emulator.ledger()["tokens"]["image_output"] == 1_120 + 1_120 + 2_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cost_usd"] == pytest.approx(
        sum(row["cost_usd"] for row in results.values())
    )


@pytest.mark.parametrize(
    ("model", "generation", "key"),
    [
        (MODEL, {"image_size": "8K"}, "generation.image_size"),
        (
            MODEL,
            {"image_size": "1k"},
            "generation.image_size",
        ),  # case-sensitive, as the API is
        (MODEL, {"image_aspect_ratio": "7:3"}, "generation.image_aspect_ratio"),
        (
            MODEL,
            {"image_aspect_ratio": "1:8"},
            "generation.image_aspect_ratio",
        ),  # Flash Image only
        ("gemini-3.1-pro-preview", {"image_size": "1K"}, "generation.image_size"),
        (
            "gemini-3.1-pro-preview",
            {"response_modalities": ["TEXT", "IMAGE"]},
            "generation.response_modalities",
        ),
    ],
)
def test_impossible_image_settings_exit_2_naming_the_key_and_send_nothing(
    make_job: JobWriter,
    emulator: EmulatorThread,
    tmp_path: Path,
    model: str,
    generation: dict[str, Any],
    key: str,
) -> None:
    job = make_job(
        [{"id": "a", "prompt": "a fox"}],
        provider={"model": model, "base_url": emulator.base_url},
        generation=generation,
    )
    # In-process (the same click command as `pipeline run`): a spec error needs no subprocess to show.
    result = CliRunner().invoke(
        cli, ["run", str(job), "--out", str(tmp_path / "out"), "--quiet"], env=KEY
    )
    assert result.exit_code == 2, result.output
    assert key in result.stderr and "Traceback" not in result.stderr
    assert emulator.ledger()["requests"] == 0
    assert not (tmp_path / "out").exists()


# --- editing ---------------------------------------------------------------------------------------------------


def _input_images(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(count):
        name = f"in{index:02d}.png"
        Image.new("RGB", (48, 32), (index * 15, 80, 200 - index * 10)).save(
            folder / name
        )
        names.append(name)
    return names


def test_editing_sends_the_input_images_and_more_than_14_is_invalid(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    names = _input_images(media, 15)
    counts = {"one": 1, "three": 3, "fourteen": 14, "fifteen": 15}
    prompt = "Blend these images into one poster."  # the same text, so tokens differ by images only
    rows = [
        {"id": row_id, "prompt": prompt, "media": names[:count]}
        for row_id, count in counts.items()
    ]
    rows.append(
        {"id": "bad-size", "prompt": prompt, "generation": {"image_size": "8K"}}
    )
    job = _image_job(make_job, emulator, rows, input={"media_dir": str(media)})
    out = tmp_path / "out"
    result = _run(job, out)
    assert result.returncode == 1, result.stderr
    results = _results(out)
    for row_id in ("one", "three", "fourteen"):
        assert results[row_id]["status"] == "ok"
        assert len(_check_files(out, results[row_id])) == 1
    base = results["one"]["input_tokens"]
    assert results["three"]["input_tokens"] - base == 2 * IMAGE_INPUT_TOKENS
    assert results["fourteen"]["input_tokens"] - base == 13 * IMAGE_INPUT_TOKENS
    fifteen = results["fifteen"]
    assert fifteen["status"] == "invalid" and fifteen["images"] == []
    assert "14" in fifteen["error_message"] and fifteen["attempts"] == 0
    bad = results["bad-size"]  # a row's own override is checked like the spec's
    assert (
        bad["status"] == "invalid" and "generation.image_size" in bad["error_message"]
    )
    assert emulator.ledger()["requests"] == 3  # the invalid rows were never sent


# --- safety ----------------------------------------------------------------------------------------------------

SAFETY_ROWS = {
    "fine": "a quiet harbour",
    "image-safety": "[[emu:image_safety]] a harbour",
    "no-image": "[[emu:no_image]] a harbour",
    "prompt-blocked": "[[emu:block=SAFETY]] a harbour",
    "reply-stopped": "[[emu:finish=SAFETY]] a harbour",
}
GEMINI_OUTCOMES = {
    "fine": ("ok", None),
    "image-safety": ("blocked", "IMAGE_SAFETY"),
    "no-image": ("failed", "NO_IMAGE"),
    "prompt-blocked": ("blocked", "SAFETY"),
    "reply-stopped": ("blocked", "SAFETY"),
}
CHAT_OUTCOMES = {  # OpenAI's one name for every filter
    "fine": ("ok", None),
    "image-safety": ("blocked", "CONTENT_FILTER"),
    "no-image": ("failed", "NO_IMAGE"),
    "prompt-blocked": ("blocked", "CONTENT_FILTER"),
    "reply-stopped": ("blocked", "CONTENT_FILTER"),
}
IMAGES_API_OUTCOMES = {  # the images API refuses with a 400 content_policy_violation: blocked, as on chat
    "fine": ("ok", None),
    **dict.fromkeys(list(SAFETY_ROWS)[1:], ("blocked", "CONTENT_FILTER")),
}


@pytest.mark.parametrize(
    ("provider", "path", "modalities", "outcomes"),
    [
        ({"kind": "gemini"}, "", ["TEXT", "IMAGE"], GEMINI_OUTCOMES),
        (
            {"kind": "gemini"},
            "",
            None,
            GEMINI_OUTCOMES,
        ),  # an image model's default: text and image
        ({"kind": "openai"}, "/v1", ["TEXT", "IMAGE"], CHAT_OUTCOMES),
        ({"kind": "openai"}, "/v1beta/openai", None, CHAT_OUTCOMES),
        (
            {"kind": "openai", "image_endpoint": "images"},
            "/v1",
            None,
            IMAGES_API_OUTCOMES,
        ),
    ],
    ids=[
        "gemini",
        "gemini-default-modalities",
        "openai-chat",
        "google-openai-chat",
        "openai-images",
    ],
)
def test_safety_outcomes_are_recorded_and_never_ok_without_an_image(
    make_job: JobWriter,
    emulator: EmulatorThread,
    tmp_path: Path,
    provider: dict[str, Any],
    path: str,
    modalities: list[str] | None,
    outcomes: dict[str, tuple[str, str | None]],
) -> None:
    rows = [{"id": row_id, "prompt": text} for row_id, text in SAFETY_ROWS.items()]
    job = make_job(
        rows,
        provider={"model": MODEL, "base_url": emulator.base_url + path, **provider},
        generation={"response_modalities": modalities}
        if modalities
        else {"image_size": "1K"},
        limits={"max_attempts": 2},
    )
    out = tmp_path / "out"
    result = _run(job, out)
    assert result.returncode == 1, result.stderr
    results = _results(out)
    got = {
        row_id: (row["status"], row["error_code"]) for row_id, row in results.items()
    }
    assert got == outcomes
    for row in results.values():
        assert (row["status"] == "ok") == bool(row["images"]), row["id"]
        if row["status"] != "ok":
            assert row["error_message"] and row["attempts"] == 1  # not retried
    assert os.listdir(out / "images") == [
        Path(results["fine"]["images"][0]["path"]).name
    ]


# --- the OpenAI-compatible path --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "endpoint", "size", "expected"),
    [
        ("/v1", "images", "2K", (2048, 1152)),  # the images API gets an exact WxH
        ("/v1", "chat", "2K", (2752, 1536)),  # chat follows Google's size table
        ("/v1beta/openai", "images", "4K", (4096, 2304)),
        # Google's flavour itemises no image tokens: they are counted from the size, not billed as text
        ("/v1beta/openai", "chat", "4K", (5504, 3072)),
    ],
)
def test_nanobanana_pro_over_the_openai_compatible_api(
    make_job: JobWriter,
    emulator: EmulatorThread,
    tmp_path: Path,
    path: str,
    endpoint: str,
    size: str,
    expected: tuple[int, int],
) -> None:
    rows = [
        {"id": f"r{i}", "prompt": f"a banana in a spacesuit, take {i}"}
        for i in range(2)
    ]
    job = _image_job(
        make_job,
        emulator,
        rows,
        provider={
            "kind": "openai",
            "base_url": emulator.base_url + path,
            "image_endpoint": endpoint,
        },
        generation={"image_aspect_ratio": "16:9", "image_size": size},
    )
    out = tmp_path / "out"
    result = _run(job, out)
    assert result.returncode == 0, result.stderr
    for row in _results(out).values():
        assert row["status"] == "ok"
        [image] = _check_files(out, row)
        assert image.size == expected
        assert row["cost_usd"] == pytest.approx(
            _row_cost(row, IMAGE_TOKENS[size]), rel=1e-9
        )
    route = "images/generations" if endpoint == "images" else "chat/completions"
    assert emulator.ledger()["requests_by_route"][f"POST {path}/{route}"] == {"200": 2}
    assert emulator.ledger()["tokens"]["image_output"] == 2 * IMAGE_TOKENS[size]


# --- resuming --------------------------------------------------------------------------------------------------


def _stats(out: Path) -> dict[str, tuple[int, int]]:
    return {
        path.name: (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in (out / "images").iterdir()
    }


def test_a_resumed_run_never_regenerates_an_image(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    rows = [{"id": f"p{i}", "prompt": f"a paper boat number {i}"} for i in range(6)]
    job = _image_job(make_job, emulator, rows)
    out = tmp_path / "out"
    first = _run(job, out, "--limit", "2")
    assert first.returncode == 0, first.stderr
    before = _stats(out)
    assert len(before) == 2
    full = _run(job, out)
    assert full.returncode == 0, full.stderr
    again = _run(job, out)  # nothing left to do
    assert again.returncode == 0, again.stderr
    after = _stats(out)
    assert len(after) == 6
    assert {name: after[name] for name in before} == before  # not rewritten
    ledger = emulator.ledger()
    assert ledger["requests"] == 6 and _ok_counts(ledger) == [1] * 6
    assert ledger["tokens"]["image_output"] == 6 * 1_120
    results = _results(out)
    for row in results.values():
        _check_files(out, row)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cost_usd"] == pytest.approx(
        sum(r["cost_usd"] for r in results.values())
    )


@pytest.mark.slow
def test_kill_9_then_resume_pays_once_for_every_journaled_image(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    # Four rows finish at once; two hang on their first attempt only (x1), so they are in flight at the kill
    # and are answered normally when the resumed run sends them again.
    rows = [{"id": f"k{i}", "prompt": f"a kite {i}"} for i in range(4)]
    rows += [
        {"id": f"h{i}", "prompt": f"a kite {i} [[emu:hang=30x1]]"} for i in range(2)
    ]
    job = _image_job(make_job, emulator, rows, limits={"request_timeout_s": 60.0})
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            str(job),
            "--out",
            str(out),
            "--quiet",
        ],
        cwd=ROOT,
        env={**os.environ, **KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (
            sum(_ok_counts(emulator.ledger())) < 4 or emulator.ledger()["in_flight"] < 2
        ):
            assert proc.poll() is None and time.monotonic() < deadline, (
                "the run never got going"
            )
            time.sleep(0.05)
        while len(list((out / "images").glob("k*.jpg"))) < 4:
            assert time.monotonic() < deadline, "the images were never written"
            time.sleep(0.05)
        time.sleep(1.0)  # the journal commits right after the image is written
        before = _stats(out)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    resumed = _run(job, out)
    assert resumed.returncode == 0, resumed.stderr
    ledger = emulator.ledger()
    assert _ok_counts(ledger) == [1] * 6, ledger["requests_by_body"]
    assert (
        ledger["requests"] == 8
    )  # the two rows in flight at the kill were sent again, and answered once
    after = _stats(out)
    assert len(after) == 6
    assert {name: after[name] for name in before} == before
    for row in _results(out).values():
        assert row["status"] == "ok"
        _check_files(out, row)


# --- the sample jobs -------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("job", "rows"),
    [("images.toml", "image_prompts.jsonl"), ("image-edit.toml", "image_edits.jsonl")],
)
def test_the_sample_jobs_run_with_the_emulator(
    tmp_path: Path, job: str, rows: str
) -> None:
    out = tmp_path / "out"
    result = run_cli("run", f"jobs/{job}", "--emulator", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    lines = (ROOT / "sample_data" / rows).read_text().splitlines()
    expected = {
        json.loads(line)["id"]: json.loads(line) for line in lines if line.strip()
    }
    results = _results(out)
    assert set(results) == set(expected)
    for row_id, row in results.items():
        assert row["status"] == "ok"
        [image] = _check_files(out, row)
        ratio = expected[row_id].get("generation", {}).get("image_aspect_ratio")
        default = "1:1" if job == "images.toml" else "4:3"
        wide, high = (int(n) for n in (ratio or default).split(":"))
        assert image.size[0] / image.size[1] == pytest.approx(wide / high, rel=0.02)
