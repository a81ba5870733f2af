"""`pipeline estimate`: row checks, token estimates per modality, the cost range, and --count-tokens."""

from __future__ import annotations

import json
import math
import wave
from dataclasses import replace
from pathlib import Path

import anyio
import pytest
from PIL import Image
from pypdf import PdfWriter
from support import JobWriter, run_cli

from pipeline.emulator import EmulatorConfig, EmulatorThread
from pipeline.engine import RunOptions, run_job
from pipeline.errors import CredentialsError
from pipeline.estimator._job import Estimate, estimate_job, render_estimate
from pipeline.spec import load_spec

PRO = "gemini-3.1-pro-preview"


def _media_dir(root: Path) -> Path:
    """Two images, a 2-second WAV, a 3-page PDF, a text file and a damaged PNG."""
    media = root / "media"
    media.mkdir()
    Image.new("RGB", (64, 48), "red").save(media / "red.png")
    Image.new("RGB", (32, 32), "blue").save(media / "blue.jpg")
    with wave.open(str(media / "tone.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8_000)
        out.writeframes(b"\x00\x01" * 16_000)
    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(width=200, height=200)
    with (media / "report.pdf").open("wb") as out:
        writer.write(out)
    (media / "notes.txt").write_text("x" * 101)
    (media / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    return media


def _estimate(spec_path: Path, **kwargs: object) -> Estimate:
    return estimate_job(load_spec(spec_path), **kwargs)  # type: ignore[arg-type]


def test_bad_rows_are_counted_with_line_and_reason(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = _media_dir(tmp_path)
    lines = [
        json.dumps({"id": "ok-1", "prompt": "hello"}),
        "{not json",
        json.dumps({"id": "no-prompt"}),
        json.dumps({"id": "ok-1", "prompt": "again"}),
        json.dumps({"id": "m-missing", "prompt": "x", "media": ["nope.png"]}),
        json.dumps({"id": "m-escape", "prompt": "x", "media": ["../job.toml"]}),
        json.dumps({"id": "m-broken", "prompt": "x", "media": ["broken.png"]}),
        json.dumps({"id": "m-many", "prompt": "x", "media": ["red.png", "blue.jpg"]}),
        "",
        json.dumps({"id": "ok-2", "prompt": "fine", "media": ["red.png"]}),
    ]
    spec = make_job(
        raw_lines=lines, input={"media_dir": str(media)}, media={"max_images": 1}
    )

    estimate = _estimate(spec)

    assert (estimate.rows, estimate.valid_rows, estimate.invalid_rows) == (9, 2, 7)
    assert [line for line, _, _ in estimate.invalid] == [2, 3, 4, 5, 6, 7, 8]
    reasons = {row_id: reason for _, row_id, reason in estimate.invalid}
    assert reasons["line-2"].startswith("not valid JSON")
    assert 'missing "prompt"' in reasons["no-prompt"]
    assert "duplicate id 'ok-1'" in reasons["ok-1#line4"]
    assert "no such file" in reasons["m-missing"]
    assert "'..' is refused" in reasons["m-escape"]
    assert "damaged" in reasons["m-broken"]
    assert "over the 1-image limit" in reasons["m-many"]
    # Only the valid rows count towards tokens: "hello", "fine" and one image.
    assert estimate.input_tokens_by_modality["text"] == 2 + 1
    assert estimate.input_tokens_by_modality["image"] == 1_120
    text = render_estimate(estimate)
    assert "9 (2 valid, 7 invalid)" in text
    assert "line 8, m-many: 2 images is over the 1-image limit" in text


def test_only_the_first_invalid_rows_are_kept_but_all_are_counted(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = _media_dir(tmp_path)
    rows = [
        {"id": f"r{i}", "prompt": "x", "media": [f"gone-{i}.png"]} for i in range(80)
    ]
    spec = make_job(rows, input={"media_dir": str(media)})

    estimate = _estimate(spec)

    assert estimate.invalid_rows == 80
    assert [line for line, _, _ in estimate.invalid] == list(range(1, 51))
    assert "the first 50 of 80" in render_estimate(estimate)


def test_tokens_per_modality_and_media_by_kind(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = _media_dir(tmp_path)
    prompt = "Describe every attachment."  # 26 characters: 7 tokens
    rows = [
        {"id": "img", "prompt": prompt, "media": ["red.png", "blue.jpg"]},
        {"id": "aud", "prompt": prompt, "media": ["tone.wav"]},
        {"id": "pdf", "prompt": prompt, "media": ["report.pdf"]},
        {"id": "txt", "prompt": prompt, "media": ["notes.txt"]},
        {
            "id": "low",
            "prompt": prompt,
            "media": ["red.png"],
            "generation": {"media_resolution": "low"},
        },
    ]
    spec = make_job(
        rows, input={"media_dir": str(media)}, prompt={"system": "Be brief."}
    )

    estimate = _estimate(spec)

    assert estimate.valid_rows == 5
    per_row_text = math.ceil(len(prompt) / 4) + math.ceil(len("Be brief.") / 4)
    assert estimate.input_tokens_by_modality == {
        "text": 5 * per_row_text + math.ceil(101 / 4),
        "image": 2 * 1_120 + 280,
        "audio": 2 * 32,
        "video": 0,
        "document": 3 * 560,
    }
    sizes = {p.name: p.stat().st_size for p in media.iterdir()}
    assert estimate.media_by_kind == {
        "audio": (1, sizes["tone.wav"]),
        "image": (3, 2 * sizes["red.png"] + sizes["blue.jpg"]),
        "pdf": (1, sizes["report.pdf"]),
        "text": (1, sizes["notes.txt"]),
    }
    assert "PDFs 560 per page" in estimate.method_note
    assert estimate.input_tokens_exact is None
    assert "nothing was sent" in render_estimate(estimate)


def test_cost_range_is_typical_output_to_max_output(make_job: JobWriter) -> None:
    rows = [{"id": "a", "prompt": "x" * 40}, {"id": "b", "prompt": "y" * 400}]
    spec = make_job(
        rows, generation={"thinking_level": "low", "max_output_tokens": 1000}
    )

    estimate = _estimate(spec)

    inputs = 10 + 100
    assert estimate.output_tokens_low == 2 * (100 + 128)
    assert estimate.output_tokens_high == 2 * 1000
    assert estimate.cost_low_usd == pytest.approx((inputs * 2.0 + 456 * 12.0) / 1e6)
    assert estimate.cost_high_usd == pytest.approx((inputs * 2.0 + 2000 * 12.0) / 1e6)
    assert (
        "2026-" in estimate.price_note and "built-in price table" in estimate.price_note
    )


def test_model_limit_and_row_overrides_set_the_high_end(make_job: JobWriter) -> None:
    rows = [
        {"id": "a", "prompt": "x" * 8},
        {"id": "b", "prompt": "x" * 8, "generation": {"max_output_tokens": 50}},
    ]
    spec = make_job(rows, generation={"thinking_level": "high"})

    estimate = _estimate(spec)

    # Row a: the model's 65,536-token limit; row b: its own 50, which also caps its typical reply.
    assert estimate.output_tokens_high == 65_536 + 50
    assert estimate.output_tokens_low == (100 + 1_024) + 50


def test_prompts_over_200k_tokens_are_priced_at_the_long_rates(
    make_job: JobWriter,
) -> None:
    spec = make_job(
        [{"id": "long", "prompt": "z" * 900_000}],
        generation={"thinking_level": "low", "max_output_tokens": 1000},
    )

    estimate = _estimate(spec)

    assert estimate.cost_low_usd == pytest.approx((225_000 * 4.0 + 228 * 18.0) / 1e6)
    assert estimate.cost_high_usd == pytest.approx((225_000 * 4.0 + 1000 * 18.0) / 1e6)


def test_image_models_add_one_image_at_the_image_rate(make_job: JobWriter) -> None:
    spec = make_job(
        [{"id": "fox", "prompt": "a red fox"}],
        provider={"model": "gemini-3-pro-image"},
        generation={"image_size": "4K", "max_output_tokens": 1000},
    )

    estimate = _estimate(spec)

    assert estimate.output_tokens_low == 100 + 128 + 2_000
    assert estimate.output_tokens_high == 1000 + 2_000
    assert estimate.cost_low_usd == pytest.approx(
        (3 * 2.0 + 228 * 12.0 + 2_000 * 120.0) / 1e6
    )
    assert estimate.cost_high_usd == pytest.approx(
        (3 * 2.0 + 1000 * 12.0 + 2_000 * 120.0) / 1e6
    )


def test_unknown_model_has_no_cost_and_says_why(make_job: JobWriter) -> None:
    spec = make_job(
        [{"id": "a", "prompt": "hello there"}],
        provider={
            "kind": "openai",
            "model": "acme-llm-9",
            "base_url": "http://127.0.0.1:9/v1",
        },
        limits={"budget_usd": 1.0},
    )

    estimate = _estimate(spec)

    assert estimate.cost_low_usd is None and estimate.cost_high_usd is None
    assert "no price is known for model 'acme-llm-9'" in estimate.price_note
    assert "[pricing]" in estimate.price_note
    assert "refuses budget_usd" in estimate.price_note
    # Tokens are still counted: only the price is missing.
    assert estimate.output_tokens_high == 65_536
    assert "cost           unknown" in render_estimate(estimate)


def test_spec_pricing_prices_an_unknown_model(make_job: JobWriter) -> None:
    spec = make_job(
        [{"id": "a", "prompt": "x" * 400}],
        provider={
            "kind": "openai",
            "model": "acme-llm-9",
            "base_url": "http://127.0.0.1:9/v1",
        },
        generation={"max_output_tokens": 500},
        pricing={"input_per_million": 1.0, "output_per_million": 4.0},
    )

    estimate = _estimate(spec)

    # An unknown model has no thinking level: the typical reply is text only.
    assert estimate.cost_low_usd == pytest.approx((100 * 1.0 + 100 * 4.0) / 1e6)
    assert estimate.cost_high_usd == pytest.approx((100 * 1.0 + 500 * 4.0) / 1e6)
    assert "the spec's [pricing]" in estimate.price_note


def test_count_tokens_matches_what_the_emulator_bills(
    make_job: JobWriter, tmp_path: Path
) -> None:
    """Function declarations are serialised by the provider, so only the server's count is exact."""
    tools = [
        {
            "name": "lookup_price",
            "description": "Look up the price of an item.",
            "parameters": {
                "type": "object",
                "properties": {"item": {"type": "string"}},
            },
        }
    ]
    (tmp_path / "tools.json").write_text(json.dumps(tools))
    rows = [
        {"id": f"r{i}", "prompt": f"What does item {i} cost? " * (i + 1)}
        for i in range(6)
    ]
    spec_path = make_job(
        rows,
        prompt={"system": "You answer questions about prices."},
        generation={"thinking_level": "low", "tools_file": "tools.json"},
        limits={"concurrency": 3, "requests_per_minute": 6000},
    )
    spec = load_spec(spec_path)
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        estimate = estimate_job(
            spec, count_tokens=True, environ={}, base_url=emulator.base_url
        )
        counted = emulator.ledger()
        options = RunOptions(
            out_dir=tmp_path / "run", base_url=emulator.base_url, handle_signals=False
        )
        anyio.run(run_job, spec, options)
        billed = emulator.ledger()

    count_route = "POST /v1beta/models/{model}:countTokens"
    assert counted["requests_by_route"] == {count_route: {"200": 6}}
    assert estimate.input_tokens_exact == billed["tokens"]["input"]
    assert (
        estimate.input_tokens_exact != estimate.input_tokens
    )  # the local estimate differs
    assert "counted the input of 6 rows exactly" in estimate.method_note
    assert "counted by countTokens" in render_estimate(estimate)


def test_count_tokens_sends_media_inline_and_skips_what_would_be_uploaded(
    make_job: JobWriter, tmp_path: Path
) -> None:
    media = _media_dir(tmp_path)
    rows = [
        {"id": "img", "prompt": "What colour?", "media": ["red.png"]},
        {"id": "pdf", "prompt": "Summarise.", "media": ["report.pdf"]},
        {"id": "wav", "prompt": "Describe.", "media": ["tone.wav"]},
    ]
    wav_size = (media / "tone.wav").stat().st_size
    spec = make_job(
        rows,
        input={"media_dir": str(media)},
        media={"upload_threshold_bytes": wav_size},
    )
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        estimate = _estimate(
            spec, count_tokens=True, environ={}, base_url=emulator.base_url
        )
        ledger = emulator.ledger()

    assert (
        sum(
            ledger["requests_by_route"][
                "POST /v1beta/models/{model}:countTokens"
            ].values()
        )
        == 2
    )
    assert ledger["uploads"]["count"] == 0
    # The emulator counts media the way the local estimate does; the WAV row keeps its local figure.
    assert estimate.input_tokens_exact == estimate.input_tokens
    assert "1 rows keep their local estimate" in estimate.method_note


def test_count_tokens_on_a_provider_without_it_keeps_the_estimate(
    make_job: JobWriter,
) -> None:
    spec = make_job(
        [{"id": "a", "prompt": "hello"}],
        provider={"kind": "openai", "model": PRO, "base_url": "http://127.0.0.1:9/v1"},
    )
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        estimate = _estimate(
            spec, count_tokens=True, environ={}, base_url=emulator.base_url
        )
        assert emulator.ledger()["requests"] == 0

    assert estimate.input_tokens_exact is None
    assert "openai provider has no countTokens endpoint" in estimate.method_note


def test_count_tokens_needs_the_key_a_run_needs(make_job: JobWriter) -> None:
    spec = make_job([{"id": "a", "prompt": "hello"}])

    with pytest.raises(CredentialsError, match="GEMINI_API_KEY"):
        _estimate(spec, count_tokens=True, environ={})


def test_a_refused_key_stops_the_count_and_is_never_shown(
    make_job: JobWriter,
) -> None:
    secret = "AIzaSyTHIS-IS-NOT-THE-RIGHT-KEY"
    spec = make_job(
        [{"id": f"r{i}", "prompt": "hello"} for i in range(4)],
        limits={"max_attempts": 1},
    )
    config = EmulatorConfig(port=0, api_key="the-right-key")
    with EmulatorThread(config) as emulator:
        with pytest.raises(CredentialsError) as caught:
            _estimate(
                spec,
                count_tokens=True,
                environ={"GEMINI_API_KEY": secret},
                base_url=emulator.base_url,
            )
        good = _estimate(
            spec,
            count_tokens=True,
            environ={"GEMINI_API_KEY": "the-right-key"},
            base_url=emulator.base_url,
        )

    assert secret not in str(caught.value)
    assert "GEMINI_API_KEY" in str(caught.value)
    assert good.input_tokens_exact == 4 * 2
    assert "the-right-key" not in render_estimate(good) + repr(good)


def test_cli_prints_the_estimate(make_job: JobWriter) -> None:
    spec = make_job(
        [{"id": "a", "prompt": "hello"}, "not an object"],
        generation={"thinking_level": "low", "max_output_tokens": 1000},
    )

    result = run_cli("estimate", str(spec))

    assert result.returncode == 0, result.stderr
    assert "2 (1 valid, 1 invalid)" in result.stdout
    assert "$" in result.stdout and "built-in price table" in result.stdout


def test_cli_counts_tokens_on_the_emulator(make_job: JobWriter) -> None:
    spec = make_job([{"id": "a", "prompt": "hello"}])

    result = run_cli("estimate", str(spec), "--count-tokens", "--emulator")

    assert result.returncode == 0, result.stderr
    assert "2 counted by countTokens" in result.stdout
    assert "only countTokens requests were sent" in result.stdout


def test_cli_refuses_a_bad_spec_with_exit_2(make_job: JobWriter) -> None:
    spec = make_job([{"id": "a", "prompt": "hello"}], limits={"concurrency": -1})

    result = run_cli("estimate", str(spec))

    assert result.returncode == 2
    assert "limits.concurrency" in result.stderr


def test_the_estimate_shows_the_batch_price_beside_the_online_one(
    make_job: JobWriter,
) -> None:
    job = make_job(
        [{"id": f"b{i}", "prompt": "summarise " * 30} for i in range(10)],
        provider={"model": "gemini-3-flash-preview"},
    )
    estimate = _estimate(job)
    assert estimate.cost_low_usd is not None and estimate.cost_high_usd is not None
    # no cached tokens in an estimate: the batch price is exactly half the standard one
    assert estimate.batch_cost_low_usd == pytest.approx(estimate.cost_low_usd / 2)
    assert estimate.batch_cost_high_usd == pytest.approx(estimate.cost_high_usd / 2)
    text = render_estimate(estimate)
    assert (
        "online" in text and "in batch mode" in text and "this job runs online" in text
    )
    assert "this job runs batch" in render_estimate(replace(estimate, mode="batch"))
