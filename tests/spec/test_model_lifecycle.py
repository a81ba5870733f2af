"""load_spec and the model's lifecycle: a shut-down id is refused on Google's API, warned about elsewhere."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.errors import SpecError
from pipeline.spec import load_spec

DEC_2026 = date(2026, 12, 3)


def job(tmp_path: Path, model: str, *, kind: str = "gemini", extra: str = "") -> Path:
    (tmp_path / "rows.jsonl").write_text('{"id": "a", "prompt": "hi"}\n')
    lines = [f'kind = "{kind}"', f'model = "{model}"']
    if kind == "vertex":
        lines.append('project = "p"')
    if kind == "openai":
        lines.append('base_url = "https://api.example.com/v1"')
    path = tmp_path / "job.toml"
    path.write_text(
        "[provider]\n" + "\n".join(lines) + '\n\n[input]\npath = "rows.jsonl"\n' + extra
    )
    return path


@pytest.mark.parametrize("kind", ["gemini", "vertex"])
def test_a_shut_down_model_is_refused_naming_the_day_and_the_replacement(
    tmp_path: Path, kind: str
) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(
            job(tmp_path, "gemini-3-pro-image-preview", kind=kind), today=DEC_2026
        )
    error = caught.value
    assert error.key == "provider.model" and error.file == str(tmp_path / "job.toml")
    when = "on 2026-06-25" if kind == "gemini" else "by 2026-07-17"
    assert (
        f"gemini-3-pro-image-preview was shut down {when}; use gemini-3-pro-image"
        in str(error)
    )


def test_the_message_of_the_brief(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(job(tmp_path, "models/gemini-3-pro-preview"), today=DEC_2026)
    assert str(caught.value).endswith(
        "provider.model: gemini-3-pro-preview was shut down on 2026-03-09; use gemini-3.1-pro-preview"
    )


def test_the_refusal_comes_before_any_other_check(tmp_path: Path) -> None:
    # A setting the old model would have refused does not hide that the model is gone.
    path = job(
        tmp_path, "gemini-2.0-flash", extra='[generation]\nthinking_level = "xhigh"\n'
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path, today=DEC_2026)
    assert caught.value.key == "provider.model" and "use gemini-3.6-flash" in str(
        caught.value
    )


def test_an_id_is_accepted_until_its_shutdown_day(tmp_path: Path) -> None:
    spec = load_spec(
        job(tmp_path, "gemini-3-pro-image-preview"), today=date(2026, 6, 1)
    )
    assert (
        len(spec.warnings) == 1
        and "scheduled to shut down on 2026-06-25" in spec.warnings[0]
    )


def test_an_aggregator_keeps_old_names_with_a_warning(tmp_path: Path) -> None:
    spec = load_spec(
        job(tmp_path, "gemini-3-pro-image-preview", kind="openai"), today=DEC_2026
    )
    assert spec.provider.model == "gemini-3-pro-image-preview"
    (warning,) = spec.warnings
    assert warning.startswith(
        "provider.model: gemini-3-pro-image-preview was shut down at Google"
    )
    assert "use gemini-3-pro-image there" in warning


def test_a_routed_model_warns_that_another_model_answers(tmp_path: Path) -> None:
    spec = load_spec(job(tmp_path, "gemini-3.7-flash"), today=DEC_2026)
    (warning,) = spec.warnings
    assert (
        "gemini-3.8-flash" in warning and "bills them at that model's rates" in warning
    )


def test_an_unknown_model_is_allowed_with_a_warning(tmp_path: Path) -> None:
    spec = load_spec(job(tmp_path, "gemini-5-krypton"), today=DEC_2026)
    (warning,) = spec.warnings
    assert "gemini-5-krypton is not in the model catalog" in warning
    assert "no built-in price" in warning and "[pricing]" in warning
    priced = load_spec(
        job(
            tmp_path,
            "gemini-5-krypton",
            extra="[pricing]\ninput_per_million = 1.0\noutput_per_million = 2.0\n",
        ),
        today=DEC_2026,
    )
    (warning,) = priced.warnings
    assert "not in the model catalog" in warning and "no built-in price" not in warning


def test_an_aggregators_own_priced_name_says_nothing(tmp_path: Path) -> None:
    unpriced = load_spec(job(tmp_path, "acme/llm-9", kind="openai"), today=DEC_2026)
    assert len(unpriced.warnings) == 1
    priced = load_spec(
        job(
            tmp_path,
            "acme/llm-9",
            kind="openai",
            extra="[pricing]\ninput_per_million = 1.0\noutput_per_million = 2.0\n",
        ),
        today=DEC_2026,
    )
    assert priced.warnings == ()


def test_current_models_have_no_warnings(tmp_path: Path) -> None:
    for model in ("gemini-3.8-flash", "gemini-4-argon", "gemini-3-pro-image"):
        assert load_spec(job(tmp_path, model), today=DEC_2026).warnings == ()


def test_warnings_are_not_part_of_the_fingerprint(tmp_path: Path) -> None:
    path = job(tmp_path, "gemini-3.7-flash")  # routed to 3.8 Flash from 2026-10-08
    warned = load_spec(path, today=DEC_2026)
    quiet = load_spec(path, today=date(2026, 9, 1))
    assert warned.warnings and not quiet.warnings
    assert warned.fingerprint() == quiet.fingerprint()
