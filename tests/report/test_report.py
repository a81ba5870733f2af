"""`pipeline report DIR`: the HTML report of runs with faults, of an image job, of a stopped and of a running
run, loaded in headless Chromium with the network denied; its figures are checked against summary.json."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import dump_dom, external_references, screenshot
from click.testing import CliRunner
from support import ROOT, JobWriter

from pipeline.cli._commands import cli
from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.errors import OutputError
from pipeline.report import key_figures, read_run
from pipeline.report._html import flatten

KEY = {"GEMINI_API_KEY": "report-key-not-real"}
CHARTS = ("requests", "progress", "latency", "spend", "failures")


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorConfig(port=0, latency_ms=5.0)) as server:
        yield server


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env=KEY)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def faulty_rows(n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        prompt = f"row {i}: summarise " + "long words " * (i % 5 * 30)
        if i % 10 == 3:
            prompt += " [[emu:fail=503x1]]"
        if i % 17 == 5:
            prompt += " [[emu:fail=429x1,retry=0.1]]"
        if i % 19 == 7:
            prompt += " [[emu:block=SAFETY]]"
        if i % 23 == 11:
            prompt += " [[emu:fail=400]]"
        rows.append({"id": f"r{i:03d}", "prompt": prompt})
    return rows


def charts(page: str) -> dict[str, str]:
    found = {}
    for key in CHARTS:
        match = re.search(
            rf'<section class="chart-section" id="chart-{key}">(.*?)</section>',
            page,
            re.DOTALL,
        )
        assert match, f"chart {key} is missing"
        found[key] = match.group(1)
    return found


def table_figures(page: str) -> dict[str, str]:
    return {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(
            r'<td class="n" data-key="([^"]+)" data-value="([^"]*)">', page
        )
    }


def check_self_contained(page: str) -> None:
    assert external_references(page) == []
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "@import" not in page


def test_report_of_a_run_with_faults(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    spec = make_job(
        faulty_rows(80),
        provider={"model": "gemini-3-flash-preview", "base_url": emulator.base_url},
        limits={"concurrency": 8, "requests_per_minute": 1200, "max_attempts": 3},
    )
    out = tmp_path / "out"
    ran = invoke("run", str(spec), "--out", str(out))
    assert ran.exit_code == 1  # some rows fail
    # the closing summary has the report's key figures and points to it
    for label in (
        "rows per minute",
        "latency p50 / p99",
        "429s (rate limited)",
        "cost by kind",
    ):
        assert label in ran.stderr, label
    assert f"pipeline report {out}" in ran.stderr
    result = invoke("report", str(out))
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == out / "report.html"
    page = path.read_text(encoding="utf-8")
    check_self_contained(page)
    assert len(page) < 600_000

    # every chart is there and has marks in it
    for key, body in charts(page).items():
        assert "<svg" in body, key
        assert len(re.findall(r"<path", body)) > 10, f"chart {key} looks empty"
    assert "no request failed" not in page

    # the header's figures are summary.json's
    summary = json.loads((out / "summary.json").read_text())
    shown = table_figures(page)
    expected = {k: v for k, v in flatten(summary) if k != "written_at"}
    assert set(expected) <= set(shown)
    for key, value in expected.items():
        assert shown[key] == ("" if value is None else str(value)), key
    assert shown["state"] == "completed"

    # the key figures agree with the journal and the summary
    figures = key_figures(read_run(out))
    assert figures.requests == summary["requests_sent"] == summary["attempts"]
    assert figures.rate_limited == summary["retries_by_cause"]["RESOURCE_EXHAUSTED"] > 0
    assert figures.cost_usd == pytest.approx(summary["cost_usd"], abs=1e-6)
    assert sum(figures.cost_by_kind.values()) == pytest.approx(
        summary["cost_usd"], abs=1e-6
    )
    assert figures.latency_ms["p50"] is not None
    assert (
        figures.latency_ms["p50"]
        <= figures.latency_ms["p90"]
        <= figures.latency_ms["p99"]
    )
    strip = re.search(
        r'<div class="keys" id="key-figures">(.*?)</div>\s*</header>', page, re.DOTALL
    )
    assert strip and f"${summary['cost_usd']:,.4f}" in strip.group(1)

    # failures by cause, with their messages
    failures = charts(page)["failures"]
    for code in ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "INVALID_ARGUMENT", "SAFETY"):
        assert code in failures, code

    # Chromium loads it with the network denied, and shows what the file holds
    dom = dump_dom(path, tmp_path)
    assert "Failed requests by cause" in dom and dom.count("<svg") >= len(CHARTS)
    screenshot(path, tmp_path / "report-faults.png")


def test_report_of_an_image_job_has_a_contact_sheet(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    rows = [
        {"id": f"img{i}", "prompt": f"a lighthouse at dusk, study {i}", "topic": "sea"}
        for i in range(6)
    ]
    rows[2]["prompt"] += " [[emu:image_safety]]"
    rows[4]["prompt"] += " [[emu:fail=400]]"
    spec = make_job(
        rows,
        provider={"model": "gemini-3-pro-image", "base_url": emulator.base_url},
        generation={
            "response_modalities": ["TEXT", "IMAGE"],
            "image_size": "1K",
            "image_aspect_ratio": "1:1",
        },
        limits={"concurrency": 4, "requests_per_minute": 60, "max_attempts": 2},
        output={"keep_fields": ["topic"]},
    )
    out = tmp_path / "out"
    invoke("run", str(spec), "--out", str(out), "--quiet")
    result = invoke("report", str(out))
    assert result.exit_code == 0, result.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    check_self_contained(page)
    sheet = re.search(r'<section id="contact-sheet">(.*?)</section>', page, re.DOTALL)
    assert sheet, "no contact sheet"
    thumbs = re.findall(
        r'<img alt="([^"]+)" src="data:image/jpeg;base64,([^"]+)"', sheet.group(1)
    )
    assert sorted(t[0] for t in thumbs) == ["img0", "img1", "img3", "img5"]
    assert all(
        len(data) < 12_000 for _, data in thumbs
    )  # small thumbnails, not the 1024 px images
    marked = dict(
        re.findall(
            r'<figure class="tile marked (\w+)"[^>]*>.*?<figcaption>([^<]+)</figcaption>',
            sheet.group(1),
        )
    )
    assert marked == {"blocked": "img2", "failed": "img4"}
    assert len(page) < 400_000
    for body in charts(page).values():
        assert "<svg" in body
    screenshot(out / "report.html", tmp_path / "report-images.png", height=3400)


def test_report_of_a_running_then_killed_run(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [
        {"id": f"s{i:03d}", "prompt": f"slow row {i} [[emu:latency=0.3]]"}
        for i in range(400)
    ]
    spec = make_job(rows, limits={"concurrency": 4, "requests_per_minute": 6000})
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            str(spec),
            "--out",
            str(out),
            "--emulator",
            "--quiet",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if (out / "journal.sqlite").exists():
                try:
                    if len(read_run(out).rows) >= 12:
                        break
                except OutputError:  # the journal is being created
                    continue
        else:
            pytest.fail("the run journaled nothing in 60 s")
        # while the run holds DIR: the report reads the journal without the lock
        result = invoke("report", str(out))
        assert result.exit_code == 0, result.stderr
        page = (out / "report.html").read_text(encoding="utf-8")
        assert "running" in table_figures(page)["state"]
        assert proc.poll() is None, "the report must not stop the run"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    result = invoke("report", str(out))
    assert result.exit_code == 0, result.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "stopped without a summary" in table_figures(page)["state"]
    figures = key_figures(read_run(out))
    assert figures.rows_done >= 12 and figures.requests >= figures.rows_done
    for body in charts(page).values():
        assert "<svg" in body


def test_report_of_a_run_stopped_by_its_budget(
    make_job: JobWriter, emulator: EmulatorThread, tmp_path: Path
) -> None:
    rows = [{"id": f"b{i:03d}", "prompt": f"budget row {i}"} for i in range(60)]
    spec = make_job(
        rows,
        provider={"model": "gemini-3-flash-preview", "base_url": emulator.base_url},
        limits={"concurrency": 2, "budget_usd": 0.05},
    )
    out = tmp_path / "out"
    assert invoke("run", str(spec), "--out", str(out), "--quiet").exit_code == 3
    assert invoke("report", str(out)).exit_code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    shown = table_figures(page)
    assert shown["ended"] == "budget" and int(shown["rows.pending"]) > 0
    check_self_contained(page)


def test_report_of_a_directory_without_a_run(tmp_path: Path) -> None:
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 2
    assert "holds no run" in result.stderr
