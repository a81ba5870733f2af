"""`[generation] service_tier`, `[limits] flex_fallback_after_s` / `deadline` and `[cache]` in the job spec."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from pipeline.errors import RowInvalid, SpecError
from pipeline.records import GenerationSettings
from pipeline.spec import CacheSpec, apply_row_overrides, load_spec, parse_spec

BASE = """
[provider]
kind = "gemini"
model = "gemini-3.1-pro-preview"

[input]
path = "rows.jsonl"
"""


def write(tmp_path: Path, body: str, *, base: str = BASE) -> Path:
    (tmp_path / "rows.jsonl").write_text('{"id": "a", "prompt": "hi"}\n')
    path = tmp_path / "job.toml"
    path.write_text(base + body)
    return path


def refused(path: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value


@pytest.mark.parametrize("tier", ["standard", "flex", "priority", "FLEX"])
def test_service_tier_is_a_generation_setting(tmp_path: Path, tier: str) -> None:
    spec = load_spec(write(tmp_path, f'[generation]\nservice_tier = "{tier}"\n'))
    assert spec.generation.service_tier == tier.lower()


def test_a_wrong_tier_names_the_choices(tmp_path: Path) -> None:
    error = refused(write(tmp_path, '[generation]\nservice_tier = "cheap"\n'))
    assert error.key == "generation.service_tier"
    assert '"standard", "flex", "priority", "auto"' in str(error)


def test_a_tier_the_model_is_not_offered_at_is_refused(tmp_path: Path) -> None:
    base = BASE.replace("gemini-3.1-pro-preview", "gemini-4-argon")
    error = refused(write(tmp_path, '[generation]\nservice_tier = "flex"\n', base=base))
    assert error.key == "generation.service_tier" and "Flex" in str(error)


def test_rows_override_the_tier_like_other_settings() -> None:
    settings = GenerationSettings(service_tier="flex")
    row = apply_row_overrides(
        settings, {"service_tier": "standard"}, "gemini-3.1-pro-preview"
    )
    assert row.service_tier == "standard"
    with pytest.raises(RowInvalid, match="generation.service_tier"):
        apply_row_overrides(
            settings, {"service_tier": "gold"}, "gemini-3.1-pro-preview"
        )


def test_the_tier_is_not_part_of_the_fingerprint(tmp_path: Path) -> None:
    """A run may resume at another tier: the replies say the same, only the price differs."""
    plain = load_spec(write(tmp_path, ""))
    flex = load_spec(write(tmp_path, '[generation]\nservice_tier = "flex"\n'))
    assert plain.fingerprint() == flex.fingerprint()
    assert "generation.service_tier" not in flex.describe()


def test_flex_attempts_get_a_longer_timeout_unless_one_is_set(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, ""))
    assert spec.limits.attempt_timeout_s("standard") == 600
    assert spec.limits.attempt_timeout_s("flex") == 900
    set_ = load_spec(write(tmp_path, "[limits]\nrequest_timeout_s = 30\n"))
    assert set_.limits.attempt_timeout_s("flex") == 30


def test_auto_needs_a_deadline(tmp_path: Path) -> None:
    error = refused(write(tmp_path, '[generation]\nservice_tier = "auto"\n'))
    assert error.key == "generation.service_tier" and "deadline" in str(error)
    spec = load_spec(
        write(
            tmp_path,
            '[generation]\nservice_tier = "auto"\n[limits]\ndeadline = "06:00"\nflex_fallback_after_s = 120\n',
        )
    )
    assert spec.limits.deadline is not None
    assert spec.limits.deadline.time_of_day == time(6, 0)
    assert spec.limits.flex_fallback_after_s == 120.0


def test_a_time_of_day_is_its_next_occurrence_in_local_time(tmp_path: Path) -> None:
    spec = parse_spec(
        {"provider": {"kind": "gemini", "model": "gemini-3.1-pro-preview"},
         "input": {"path": str(write(tmp_path, "").with_name("rows.jsonl"))},
         "limits": {"deadline": "06:00"}},
        base_dir=tmp_path,
    )  # fmt: skip
    deadline = spec.limits.deadline
    assert deadline is not None
    morning = (
        datetime.now().astimezone().replace(hour=5, minute=0, second=0, microsecond=0)
    )
    assert deadline.resolve(morning) == morning.replace(hour=6)
    evening = morning.replace(hour=23)
    resolved = deadline.resolve(evening)
    assert resolved > evening and resolved.hour == 6
    assert (resolved - evening).total_seconds() == pytest.approx(
        7 * 3600, abs=3600
    )  # DST


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-04T06:00:00+01:00", datetime(2026, 12, 4, 5, 0, tzinfo=UTC)),
        ("2026-12-04T05:00:00Z", datetime(2026, 12, 4, 5, 0, tzinfo=UTC)),
    ],
)
def test_an_iso_deadline(tmp_path: Path, text: str, expected: datetime) -> None:
    spec = load_spec(write(tmp_path, f'[limits]\ndeadline = "{text}"\n'))
    assert spec.limits.deadline is not None
    assert spec.limits.deadline.resolve(datetime.now(UTC)) == expected


@pytest.mark.parametrize("text", ["25:00", "6am", "2026-12-04", "tomorrow", ""])
def test_a_bad_deadline(tmp_path: Path, text: str) -> None:
    error = refused(write(tmp_path, f'[limits]\ndeadline = "{text}"\n'))
    assert error.key == "limits.deadline" and '"06:00"' in str(error)


def media(tmp_path: Path) -> str:
    folder = tmp_path / "media"
    folder.mkdir(exist_ok=True)
    (folder / "handbook.txt").write_text("shared " * 100)
    return '[input]\npath = "rows.jsonl"\nmedia_dir = "media"\n'


def test_cache_table(tmp_path: Path) -> None:
    base = BASE.split("[input]")[0] + media(tmp_path)
    body = '[prompt]\nsystem = "Be brief."\n[cache]\nenabled = true\nfiles = ["handbook.txt"]\nttl_s = 600\n'
    spec = load_spec(write(tmp_path, body, base=base))
    assert spec.cache == CacheSpec(enabled=True, files=("handbook.txt",), ttl_s=600.0)
    assert spec.describe()["cache.files"] == ["handbook.txt"]
    off = load_spec(
        write(tmp_path, body.replace("enabled = true", "enabled = false"), base=base)
    )
    assert off.fingerprint() == spec.fingerprint()  # the same prompts, cached or not
    assert "cache.files" not in load_spec(write(tmp_path, "", base=base)).describe()


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ("[cache]\nenabled = true\n", "cache.enabled", "nothing to cache"),
        ('[cache]\nfiles = ["nope.txt"]\n', "cache.files[0]", "is not one"),
        ('[cache]\nfiles = ["../job.toml"]\n', "cache.files[0]", "leaves media_dir"),
        ("[cache]\nenable = true\n", "cache.enable", 'did you mean "enabled"'),
        ("[cache]\nttl_s = 0\n", "cache.ttl_s", "more than 0"),
    ],
)
def test_cache_refusals(tmp_path: Path, body: str, key: str, words: str) -> None:
    base = BASE.split("[input]")[0] + media(tmp_path)
    error = refused(write(tmp_path, body, base=base))
    assert error.key == key and words in str(error)


def test_cache_files_need_a_media_dir_and_caching_needs_google(tmp_path: Path) -> None:
    error = refused(write(tmp_path, '[cache]\nfiles = ["a.txt"]\n'))
    assert error.key == "cache.files" and "media_dir" in str(error)
    openai = BASE.replace(
        'kind = "gemini"', 'kind = "openai"\nbase_url = "http://h/v1"'
    )
    error = refused(
        write(
            tmp_path, '[prompt]\nsystem = "x"\n[cache]\nenabled = true\n', base=openai
        )
    )
    assert error.key == "cache.enabled" and "gemini" in str(error)
