"""build_prompt: media first, then the text; the row's system and generation win over the spec's."""

from __future__ import annotations

import pytest

from pipeline.errors import RowInvalid
from pipeline.input._prompt import build_prompt, estimate_text_tokens, render_template
from pipeline.records import GenerationSettings, Part, Row
from pipeline.spec._load import InputSpec, JobSpec, PromptSpec, ProviderSpec


def make_spec(**changes: object) -> JobSpec:
    base: dict[str, object] = {
        "name": "t",
        "path": "/tmp/t.toml",
        "provider": ProviderSpec(kind="gemini", model="gemini-3.1-pro-preview"),
        "input": InputSpec(path="/tmp/rows.jsonl"),  # type: ignore[arg-type]
        "prompt": PromptSpec(system="Spec system."),
        "generation": GenerationSettings(temperature=0.2, thinking_level="low"),
    }
    base.update(changes)
    return JobSpec(**base)  # type: ignore[arg-type]


def make_row(prompt: str = "Hello there", **changes: object) -> Row:
    return Row(
        id=str(changes.pop("id", "r1")), line=1, fields={}, prompt=prompt, **changes
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 4000, 1000)],
)
def test_estimate_text_tokens_is_ceil_of_a_quarter(text: str, tokens: int) -> None:
    assert estimate_text_tokens(text) == tokens


def test_text_only_prompt() -> None:
    spec = make_spec()
    prompt = build_prompt(make_row(), spec)
    assert prompt.row_id == "r1" and prompt.model == "gemini-3.1-pro-preview"
    assert prompt.parts == (Part(text="Hello there"),)
    assert prompt.system == "Spec system."
    assert prompt.generation is spec.generation
    assert prompt.estimated_input_tokens == estimate_text_tokens(
        "Hello there"
    ) + estimate_text_tokens("Spec system.")


def test_media_parts_come_first_and_their_tokens_are_added() -> None:
    image = Part(mime_type="image/png", data=b"\x89PNG", source_path="a.png")
    pdf = Part(
        mime_type="application/pdf",
        file_uri="https://example/files/1",
        source_path="b.pdf",
    )
    prompt = build_prompt(make_row(), make_spec(), [image, pdf], media_tokens=1680)
    assert prompt.parts == (image, pdf, Part(text="Hello there"))
    assert prompt.estimated_input_tokens == 1680 + 3 + 3


def test_empty_text_after_media_is_left_out() -> None:
    image = Part(mime_type="image/png", data=b"x")
    assert build_prompt(make_row(""), make_spec(), [image]).parts == (image,)
    assert build_prompt(make_row(""), make_spec()).parts == (Part(text=""),)


def test_row_system_wins_even_when_empty() -> None:
    assert (
        build_prompt(make_row(system="Row system."), make_spec()).system
        == "Row system."
    )
    assert build_prompt(make_row(system=""), make_spec()).system == ""
    no_system = make_spec(prompt=PromptSpec())
    prompt = build_prompt(make_row(), no_system)
    assert prompt.system is None and prompt.estimated_input_tokens == 3


def test_row_generation_overrides_the_spec() -> None:
    prompt = build_prompt(
        make_row(generation={"temperature": 1.0, "max_output_tokens": 100}), make_spec()
    )
    assert prompt.generation == GenerationSettings(
        temperature=1.0, thinking_level="low", max_output_tokens=100
    )


def test_invalid_row_generation_raises_row_invalid() -> None:
    with pytest.raises(RowInvalid, match="generation.temperature"):
        build_prompt(make_row(generation={"temperature": 9}), make_spec())


class TestRenderTemplate:
    def test_fields_are_substituted_and_braces_escaped(self) -> None:
        assert render_template("{{{a}}} and {b}", {"a": "x", "b": "y"}) == "{x} and y"

    def test_non_strings_are_rendered_as_json(self) -> None:
        fields = {"n": 3, "f": 1.5, "t": True, "z": None, "l": [1, "é"], "o": {"k": 1}}
        rendered = render_template("{n} {f} {t} {z} {l} {o}", fields)
        assert rendered == '3 1.5 true null [1, "é"] {"k": 1}'

    def test_a_missing_field_makes_the_row_invalid(self) -> None:
        with pytest.raises(RowInvalid) as caught:
            render_template("Summarise {text} by {author}", {"text": "t"})
        assert caught.value.reason == "template field 'author' missing"

    def test_values_are_not_templates_themselves(self) -> None:
        assert render_template("{a}", {"a": "{b} {{c}}", "b": "no"}) == "{b} {{c}}"
