"""load_spec: every refusal names the file and the key; fingerprints follow what changes replies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import RowInvalid, SpecError
from pipeline.records import GenerationSettings
from pipeline.spec._load import (
    JobSpec,
    LimitsSpec,
    apply_row_overrides,
    load_spec,
    parse_spec,
    parse_template,
)

ROOT = Path(__file__).resolve().parents[2]
BASE = """
[provider]
kind = "gemini"
model = "gemini-3.1-pro-preview"

[input]
path = "rows.jsonl"
"""


def write(
    tmp_path: Path, body: str, *, base: str = BASE, name: str = "job.toml"
) -> Path:
    (tmp_path / "rows.jsonl").write_text('{"id": "a", "prompt": "hi"}\n')
    path = tmp_path / name
    path.write_text(base + body)
    return path


def refused(path: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value


def test_minimal_spec_gets_the_defaults(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, ""))
    assert spec.name == "job"  # the file's stem
    assert spec.path == (tmp_path / "job.toml").resolve()
    assert spec.provider.kind == "gemini"
    assert spec.provider.base_url is None
    assert spec.provider.api_key_env is None
    assert spec.input.path == (tmp_path / "rows.jsonl").resolve()
    assert spec.limits == LimitsSpec()
    assert spec.limits.concurrency == 32 and spec.limits.max_attempts == 6
    assert spec.generation == GenerationSettings()
    assert spec.output.dir is None and spec.output.keep_fields == ()


def test_a_mapping_is_checked_like_the_toml_it_mirrors(tmp_path: Path) -> None:
    path = write(tmp_path, '[output]\nkeep_fields = ["title"]\n')
    mapping = {
        "provider": {"kind": "gemini", "model": "gemini-3.1-pro-preview"},
        "input": {"path": Path("rows.jsonl")},  # path-like values are taken as strings
        "output": {"keep_fields": ("title",)},  # and tuples as lists
    }
    spec = parse_spec(mapping, base_dir=tmp_path, name="job")
    assert spec.fingerprint() == load_spec(path).fingerprint()
    assert spec.input.path == (tmp_path / "rows.jsonl").resolve()
    assert spec.name == "job" and spec.path == tmp_path.resolve() / "<mapping>"
    with pytest.raises(SpecError) as caught:
        parse_spec({**mapping, "limits": {"concurrency": 0}}, base_dir=tmp_path)
    assert caught.value.key == "limits.concurrency" and caught.value.file is None
    assert str(caught.value).startswith("limits.concurrency: expected an integer")
    with pytest.raises(SpecError, match="provider.api_key"):
        parse_spec({**mapping, "provider": {"api_key": "x"}}, base_dir=tmp_path)


def test_paths_are_relative_to_the_spec_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data" / "media").mkdir(parents=True)
    (tmp_path / "data" / "rows.jsonl").write_text('{"prompt": "x"}\n')
    (tmp_path / "jobs" / "schemas").mkdir(parents=True)
    (tmp_path / "jobs" / "schemas" / "s.json").write_text('{"type": "object"}')
    spec_path = tmp_path / "jobs" / "j.toml"
    spec_path.write_text(
        '[provider]\nkind = "gemini"\nmodel = "gemini-3-flash-preview"\n'
        '[input]\npath = "../data/rows.jsonl"\nmedia_dir = "../data/media"\n'
        '[generation]\nresponse_schema_file = "schemas/s.json"\n'
        '[output]\ndir = "../out/here"\n'
    )
    monkeypatch.chdir(tmp_path / "data")
    spec = load_spec(Path("../jobs/j.toml"))
    assert spec.input.path == (tmp_path / "data" / "rows.jsonl").resolve()
    assert spec.input.media_dir == (tmp_path / "data" / "media").resolve()
    assert spec.output.dir == (tmp_path / "out" / "here").resolve()
    assert spec.generation.response_schema == {"type": "object"}
    assert (
        spec.generation.response_mime_type == "application/json"
    )  # implied by the schema


def test_a_full_spec_is_read_into_typed_values(tmp_path: Path) -> None:
    (tmp_path / "tools.json").write_text(
        json.dumps(
            [
                {
                    "name": "lookup",
                    "description": "Look a customer up",
                    "parameters": {
                        "type": "object",
                        "properties": {"q": {"type": "string"}},
                    },
                }
            ]
        )
    )
    spec = load_spec(
        write(
            tmp_path,
            """
[prompt]
system = "Be brief."
template = "Say {prompt} {{literally}}"
[generation]
temperature = 1
top_p = 0.9
top_k = 40
max_output_tokens = 65536
seed = 7
stop_sequences = ["###"]
thinking_level = "MEDIUM"
include_thoughts = true
media_resolution = "High"
tools_file = "tools.json"
[limits]
concurrency = 64
requests_per_minute = 150
tokens_per_minute = 2000000
requests_per_day = 10000
max_attempts = 3
request_timeout_s = 30
budget_usd = 25
[output]
keep_fields = ["title", "url"]
[pricing]
input_per_million = 2
per_image = 0.134
[media]
upload_threshold_bytes = 0
delete_uploads = true
max_images = 10
max_video_s = 3600
""",
            base='name = "full"\n'
            + BASE.replace(
                'model = "gemini-3.1-pro-preview"',
                'model = "models/gemini-3.1-pro-preview"',
            ),
        )
    )
    assert spec.name == "full"
    assert (
        spec.provider.model == "gemini-3.1-pro-preview"
    )  # the "models/" prefix is dropped
    assert spec.prompt.system == "Be brief."
    generation = spec.generation
    assert generation.temperature == 1.0 and isinstance(generation.temperature, float)
    assert (
        generation.thinking_level == "medium" and generation.media_resolution == "high"
    )
    assert generation.stop_sequences == ("###",) and generation.include_thoughts is True
    assert generation.tools[0]["name"] == "lookup"
    assert spec.limits.requests_per_minute == 150.0 and spec.limits.budget_usd == 25.0
    assert spec.output.keep_fields == ("title", "url")
    assert (
        spec.pricing.input_per_million == 2.0
        and spec.pricing.output_per_million is None
    )
    assert spec.media.delete_uploads is True and spec.media.max_video_s == 3600.0


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        (
            "[limits]\nconcurrency = 0",
            "limits.concurrency",
            "expected an integer of at least 1, got 0",
        ),
        ('[limits]\nconcurrency = "8"', "limits.concurrency", 'got "8"'),
        ("[limits]\nconcurrency = 2.5", "limits.concurrency", "an integer"),
        ("[limits]\nconcurrency = true", "limits.concurrency", "got true"),
        (
            "[limits]\nrequests_per_minute = -5",
            "limits.requests_per_minute",
            "more than 0, got -5",
        ),
        (
            "[limits]\nrequests_per_minute = 0",
            "limits.requests_per_minute",
            "more than 0",
        ),
        (
            "[limits]\ntokens_per_minute = -1.0",
            "limits.tokens_per_minute",
            "more than 0",
        ),
        ("[limits]\nrequests_per_day = 0", "limits.requests_per_day", "at least 1"),
        ("[limits]\nmax_attempts = 0", "limits.max_attempts", "from 1 to 100"),
        (
            "[limits]\nrequest_timeout_s = nan",
            "limits.request_timeout_s",
            "more than 0",
        ),
        ("[limits]\nbudget_usd = -1", "limits.budget_usd", "more than 0"),
        (
            "[generation]\ntemperature = 2.5",
            "generation.temperature",
            "from 0 to 2, got 2.5",
        ),
        ("[generation]\ntemperature = -0.1", "generation.temperature", "from 0 to 2"),
        ("[generation]\ntop_p = 1.5", "generation.top_p", "from 0 to 1"),
        ("[generation]\ntop_k = 0", "generation.top_k", "at least 1"),
        ("[generation]\nseed = 99999999999", "generation.seed", "an integer from"),
        ('[generation]\nstop_sequences = "###"', "generation.stop_sequences", "a list"),
        (
            '[generation]\nstop_sequences = ["a","b","c","d","e","f"]',
            "generation.stop_sequences",
            "at most 5",
        ),
        (
            '[generation]\nstop_sequences = [""]',
            "generation.stop_sequences[0]",
            "non-empty string",
        ),
        (
            "[generation]\nmax_output_tokens = 65537",
            "generation.max_output_tokens",
            "at most 65536",
        ),
        (
            '[generation]\nthinking_level = "minimal"',
            "generation.thinking_level",
            '"low", "medium", "high"',
        ),
        (
            '[generation]\nthinking_level = "extreme"',
            "generation.thinking_level",
            'got "extreme"',
        ),
        (
            '[generation]\ninclude_thoughts = "yes"',
            "generation.include_thoughts",
            "true or false",
        ),
        (
            '[generation]\nresponse_mime_type = "text/json"',
            "generation.response_mime_type",
            "application/json",
        ),
        (
            '[generation]\nmedia_resolution = "ultra"',
            "generation.media_resolution",
            '"low", "medium", "high"',
        ),
        (
            '[generation]\nimage_size = "2K"',
            "generation.image_size",
            "cannot output images",
        ),
        (
            '[generation]\nimage_aspect_ratio = "16:9"',
            "generation.image_aspect_ratio",
            "cannot output images",
        ),
        (
            '[generation]\nresponse_modalities = ["TEXT", "IMAGE"]',
            "generation.response_modalities",
            "cannot output",
        ),
        (
            '[generation]\nresponse_modalities = ["VIDEO"]',
            "generation.response_modalities[0]",
            '"TEXT"',
        ),
        (
            '[generation]\nresponse_schema_file = "missing.json"',
            "generation.response_schema_file",
            "does not exist",
        ),
        (
            '[generation]\ntools_file = "missing.json"',
            "generation.tools_file",
            "does not exist",
        ),
        ("[generation]\ntools_file = 3", "generation.tools_file", "non-empty string"),
        (
            "[generation]\nresponse_schema_file = 3",
            "generation.response_schema_file",
            "non-empty string",
        ),
        ('[output]\nkeep_fields = "title"', "output.keep_fields", "a list"),
        (
            '[output]\nkeep_fields = ["title", "title"]',
            "output.keep_fields",
            "distinct",
        ),
        (
            '[output]\nkeep_fields = ["text"]',
            "output.keep_fields",
            "already an output column",
        ),
        (
            "[pricing]\ninput_per_million = -2",
            "pricing.input_per_million",
            "at least 0",
        ),
        ("[media]\nmax_images = 0", "media.max_images", "at least 1"),
        ('[media]\ndelete_uploads = "no"', "media.delete_uploads", "true or false"),
        ('[prompt]\ntemplate = "Hello {name"', "prompt.template", "never closed"),
        ('[prompt]\ntemplate = "Hello name}"', "prompt.template", "write '}}'"),
        (
            '[prompt]\ntemplate = "Hello {name:>10}"',
            "prompt.template",
            "no format specs",
        ),
        ('[prompt]\ntemplate = "Hello {}"', "prompt.template", "not a field name"),
        ("[prompt]\nsystem = 3", "prompt.system", "non-empty string"),
        ('name = "a/b"', "name", "without path separators"),
        ('name = ""', "name", "non-empty string"),
        ('prompt = "hi"', "prompt", "expected a table [prompt]"),
    ],
)
def test_wrong_values_are_refused_with_file_key_and_expectation(
    tmp_path: Path, body: str, key: str, fragment: str
) -> None:
    # Top-level keys must come before the first table, so the body goes first here.
    path = tmp_path / "job.toml"
    (tmp_path / "rows.jsonl").write_text("{}\n")
    first, _, rest = body.partition("\n")
    if first.startswith("["):
        path.write_text(BASE + body)
    else:
        path.write_text(body + "\n" + BASE + rest)
    error = refused(path)
    assert error.file == str(path)
    assert error.key == key
    assert str(path) in str(error) and key in str(error)
    assert fragment in str(error)


@pytest.mark.parametrize(
    ("base", "key", "fragment"),
    [
        ('[input]\npath = "rows.jsonl"', "provider", "add a [provider] table"),
        ('[provider]\nkind = "gemini"\nmodel = "m"', "input", "add an [input] table"),
        (
            '[provider]\nmodel = "m"\n[input]\npath = "rows.jsonl"',
            "provider.kind",
            'kind = "gemini"',
        ),
        (
            '[provider]\nkind = "gemini"\n[input]\npath = "rows.jsonl"',
            "provider.model",
            "model =",
        ),
        (
            '[provider]\nkind = "azure"\nmodel = "m"\n[input]\npath = "rows.jsonl"',
            "provider.kind",
            '"openai"',
        ),
        (
            '[provider]\nkind = "openai"\nmodel = "m"\n[input]\npath = "rows.jsonl"',
            "provider.base_url",
            "/v1",
        ),
        (
            '[provider]\nkind = "vertex"\nmodel = "m"\n[input]\npath = "rows.jsonl"',
            "provider.project",
            "project =",
        ),
        (
            '[provider]\nkind = "gemini"\nmodel = "m"\nproject = "p"\n[input]\npath = "rows.jsonl"',
            "provider.project",
            'kind = "vertex" only',
        ),
        (
            '[provider]\nkind = "gemini"\nmodel = "m"\nimage_endpoint = "images"\n[input]\npath = "rows.jsonl"',
            "provider.image_endpoint",
            'kind = "openai" only',
        ),
        (
            '[provider]\nkind = "gemini"\nmodel = "m"\nbase_url = "ftp://x"\n[input]\npath = "rows.jsonl"',
            "provider.base_url",
            "http(s) URL",
        ),
        (
            '[provider]\nkind = "gemini"\nmodel = "m"\n[input]\npath = "nope.jsonl"',
            "input.path",
            "does not exist",
        ),
        (
            '[provider]\nkind = "gemini"\nmodel = "m"\n[input]\nmedia_dir = "."',
            "input.path",
            'path = "rows.jsonl"',
        ),
        (
            '[provider]\nkind = "gemini"\nmodel = "m"\n[input]\npath = "rows.jsonl"\nmedia_dir = "nowhere"',
            "input.media_dir",
            "existing folder",
        ),
    ],
)
def test_provider_and_input_mistakes_are_refused(
    tmp_path: Path, base: str, key: str, fragment: str
) -> None:
    path = write(tmp_path, "", base=base)
    error = refused(path)
    assert (error.file, error.key) == (str(path), key)
    assert fragment in str(error)


def test_openai_and_vertex_specs_load(tmp_path: Path) -> None:
    openai = load_spec(
        write(
            tmp_path,
            "",
            name="o.toml",
            base='[provider]\nkind = "openai"\nmodel = "google/gemini-3.1-pro-preview"\n'
            'base_url = "https://api.example.com/v1/"\napi_key_env = "AGG_KEY"\nimage_endpoint = "images"\n'
            '[input]\npath = "rows.jsonl"\n',
        )
    )
    assert (
        openai.provider.base_url == "https://api.example.com/v1"
    )  # trailing slash dropped
    assert (openai.provider.api_key_env, openai.provider.image_endpoint) == (
        "AGG_KEY",
        "images",
    )
    vertex = load_spec(
        write(
            tmp_path,
            "",
            name="v.toml",
            base='[provider]\nkind = "vertex"\nmodel = "gemini-3.1-pro-preview"\nproject = "p1"\n'
            'location = "europe-west4"\ntoken_env = "VERTEX_ACCESS_TOKEN"\n[input]\npath = "rows.jsonl"\n',
        )
    )
    assert (vertex.provider.project, vertex.provider.location) == ("p1", "europe-west4")
    assert vertex.provider.token_env == "VERTEX_ACCESS_TOKEN"


@pytest.mark.parametrize(
    ("body", "key", "suggestion"),
    [
        (
            "[limits]\nconcurency = 4",
            "limits.concurency",
            'did you mean "concurrency"?',
        ),
        (
            "[generation]\ntemprature = 1.0",
            "generation.temprature",
            'did you mean "temperature"?',
        ),
        (
            "[generation]\nthinking_budget = 100",
            "generation.thinking_budget",
            'did you mean "thinking_level"?',
        ),
        (
            "[output]\nkeep_field = []",
            "output.keep_field",
            'did you mean "keep_fields"?',
        ),
        ("[limit]\nconcurrency = 4", "limit", 'did you mean "limits"?'),
        (
            "[pricing]\ninput_per_millon = 1",
            "pricing.input_per_millon",
            'did you mean "input_per_million"?',
        ),
    ],
)
def test_unknown_keys_get_a_did_you_mean(
    tmp_path: Path, body: str, key: str, suggestion: str
) -> None:
    path = write(tmp_path, body)
    error = refused(path)
    assert (error.file, error.key) == (str(path), key)
    assert suggestion in str(error) and "unknown key" in str(error)


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path: Path) -> None:
    error = refused(write(tmp_path, "[limits]\nwhatever = 1"))
    assert "did you mean" not in str(error)
    assert "concurrency" in str(error) and "max_attempts" in str(error)


def test_invalid_toml_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nconcurrency = = 4\n")
    error = refused(path)
    assert error.file == str(path)
    assert (
        "not valid TOML" in str(error)
        and "line 9" in str(error)
        and "column" in str(error)
    )


def test_missing_and_non_utf8_spec_files(tmp_path: Path) -> None:
    assert "not found" in str(refused(tmp_path / "nope.toml"))
    path = tmp_path / "latin1.toml"
    path.write_bytes(BASE.encode() + b'[prompt]\nsystem = "caf\xe9"\n')
    assert "UTF-8" in str(refused(path))


@pytest.mark.parametrize("where", ["provider", "top"])
def test_a_key_in_the_spec_is_refused_and_never_echoed(
    tmp_path: Path, where: str
) -> None:
    secret = "AIzaSyTHIS-IS-A-SECRET-0123456789abcdef"
    if where == "provider":
        path = write(
            tmp_path,
            "",
            base=BASE.replace("[input]", f'api_key = "{secret}"\n\n[input]'),
        )
        key = "provider.api_key"
    else:
        path = write(tmp_path, "", base=f'api_key = "{secret}"\n' + BASE)
        key = "api_key"
    error = refused(path)
    assert error.key == key
    assert "api_key_env" in str(error)
    assert secret not in str(error) and "SECRET" not in repr(error)


@pytest.mark.parametrize(
    "value", ["AIzaSyA0123456789abcdefghijklmnopqrstuv", "sk-live-abc/def", "has space"]
)
def test_api_key_env_must_be_a_variable_name_and_is_never_echoed(
    tmp_path: Path, value: str
) -> None:
    path = write(
        tmp_path,
        "",
        base=BASE.replace("[input]", f'api_key_env = "{value}"\n\n[input]'),
    )
    error = refused(path)
    assert error.key == "provider.api_key_env"
    assert value not in str(error)
    assert "name of an environment variable" in str(error)


def test_a_key_like_value_elsewhere_is_not_echoed(tmp_path: Path) -> None:
    error = refused(
        write(tmp_path, '[limits]\nconcurrency = "AIzaSyVERYSECRETVALUE123"')
    )
    assert error.key == "limits.concurrency"
    assert "VERYSECRET" not in str(error) and "looks like an API key" in str(error)


def test_image_size_is_case_sensitive_and_says_so(tmp_path: Path) -> None:
    base = BASE.replace("gemini-3.1-pro-preview", "gemini-3-pro-image")
    error = refused(write(tmp_path, '[generation]\nimage_size = "2k"', base=base))
    assert error.key == "generation.image_size"
    assert 'case-sensitive: write "2K"' in str(error)
    error = refused(write(tmp_path, '[generation]\nimage_size = "8K"', base=base))
    assert '"1K", "2K", "4K"' in str(error)


def test_image_settings_on_image_models(tmp_path: Path) -> None:
    pro_image = BASE.replace("gemini-3.1-pro-preview", "gemini-3-pro-image")
    spec = load_spec(
        write(
            tmp_path,
            '[generation]\nresponse_modalities = ["text", "IMAGE"]\nimage_aspect_ratio = "21:9"\nimage_size = "4K"',
            base=pro_image,
        )
    )
    assert spec.generation.response_modalities == ("TEXT", "IMAGE")
    assert (spec.generation.image_aspect_ratio, spec.generation.image_size) == (
        "21:9",
        "4K",
    )
    error = refused(
        write(tmp_path, '[generation]\nimage_aspect_ratio = "8:1"', base=pro_image)
    )
    assert error.key == "generation.image_aspect_ratio" and "gemini-3-pro-image" in str(
        error
    )
    error = refused(
        write(tmp_path, '[generation]\nimage_aspect_ratio = "7:3"', base=pro_image)
    )
    assert error.key == "generation.image_aspect_ratio" and '"16:9"' in str(error)
    error = refused(
        write(tmp_path, '[generation]\nthinking_level = "high"', base=pro_image)
    )
    assert error.key == "generation.thinking_level" and "always thinks" in str(error)
    flash_image = BASE.replace("gemini-3.1-pro-preview", "gemini-3.1-flash-image")
    spec = load_spec(
        write(
            tmp_path,
            '[generation]\nimage_aspect_ratio = "8:1"\nimage_size = "512"',
            base=flash_image,
        )
    )
    assert spec.generation.image_size == "512"


def test_unknown_models_are_not_checked_against_the_catalog(tmp_path: Path) -> None:
    base = BASE.replace("gemini-3.1-pro-preview", "vendor/some-new-model")
    spec = load_spec(
        write(
            tmp_path,
            '[generation]\nthinking_level = "minimal"\nmax_output_tokens = 500000\nimage_size = "2K"',
            base=base,
        )
    )
    assert (
        spec.generation.thinking_level == "minimal"
        and spec.generation.max_output_tokens == 500000
    )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "is not valid JSON"),
        ('{"type": "objekt"}', "is not a valid JSON Schema"),
        (
            '{"type": "object", "properties": {"a": {"minimum": "zero"}}}',
            "properties/a/minimum",
        ),
        ("[1, 2]", "expected a JSON Schema object"),
    ],
)
def test_bad_response_schema_files_are_refused(
    tmp_path: Path, content: str, fragment: str
) -> None:
    (tmp_path / "schema.json").write_text(content)
    path = write(tmp_path, '[generation]\nresponse_schema_file = "schema.json"')
    error = refused(path)
    assert (error.file, error.key) == (str(path), "generation.response_schema_file")
    assert fragment in str(error)


def test_a_schema_with_plain_text_output_is_a_contradiction(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text('{"type": "object"}')
    error = refused(
        write(
            tmp_path,
            '[generation]\nresponse_schema_file = "schema.json"\nresponse_mime_type = "text/plain"',
        )
    )
    assert error.key == "generation.response_mime_type"


@pytest.mark.parametrize(
    ("tools", "fragment"),
    [
        ("[]", "non-empty JSON list"),
        ('{"name": "f"}', "non-empty JSON list"),
        ('[{"name": "f", "extra": 1}]', 'only "name", "description" and "parameters"'),
        ('[{"description": "no name"}]', "expected a name"),
        ('[{"name": "has space"}]', "expected a name"),
        ('[{"name": "f"}, {"name": "f"}]', "declared twice"),
        ('[{"name": "f", "description": 3}]', "string description"),
        ('[{"name": "f", "parameters": {"type": 12}}]', "not a valid JSON Schema"),
    ],
)
def test_bad_tools_files_are_refused(tmp_path: Path, tools: str, fragment: str) -> None:
    (tmp_path / "tools.json").write_text(tools)
    error = refused(write(tmp_path, '[generation]\ntools_file = "tools.json"'))
    assert error.key == "generation.tools_file"
    assert fragment in str(error)


def fingerprint_of(tmp_path: Path, body: str, *, base: str = BASE) -> str:
    return load_spec(write(tmp_path, body, base=base)).fingerprint()


def test_fingerprint_ignores_limits_budget_output_dir_pricing_and_name(
    tmp_path: Path,
) -> None:
    plain = fingerprint_of(tmp_path, "")
    assert len(plain) == 64 and int(plain, 16) >= 0
    assert fingerprint_of(tmp_path, "") == plain  # stable
    changed = """
[limits]
concurrency = 4
requests_per_minute = 10
budget_usd = 99.5
max_attempts = 2
[output]
dir = "elsewhere"
[pricing]
input_per_million = 1.5
[media]
delete_uploads = true
"""
    assert fingerprint_of(tmp_path, changed) == plain
    assert fingerprint_of(tmp_path, "", base='name = "renamed"\n' + BASE) == plain


@pytest.mark.parametrize(
    "body",
    [
        '[prompt]\nsystem = "Be terse."',
        '[prompt]\ntemplate = "Q: {prompt}"',
        "[generation]\ntemperature = 0.5",
        '[generation]\nthinking_level = "low"',
        '[output]\nkeep_fields = ["title"]',
    ],
)
def test_fingerprint_changes_with_what_changes_the_replies(
    tmp_path: Path, body: str
) -> None:
    assert fingerprint_of(tmp_path, body) != fingerprint_of(tmp_path, "")


def test_fingerprint_changes_with_the_model_and_base_url(tmp_path: Path) -> None:
    plain = fingerprint_of(tmp_path, "")
    assert (
        fingerprint_of(tmp_path, "", base=BASE.replace("3.1-pro", "3-flash")) != plain
    )
    other_url = BASE.replace("[input]", 'base_url = "http://127.0.0.1:8089"\n[input]')
    assert fingerprint_of(tmp_path, "", base=other_url) != plain


def test_fingerprint_follows_the_schema_content_not_its_file_name(
    tmp_path: Path,
) -> None:
    body = '[generation]\nresponse_schema_file = "schema.json"'
    (tmp_path / "schema.json").write_text('{"type": "object", "required": ["a"]}')
    first = load_spec(write(tmp_path, body))
    (tmp_path / "schema.json").write_text(
        '{"required": ["a"],\n "type": "object"}'
    )  # same content
    assert load_spec(write(tmp_path, body)).fingerprint() == first.fingerprint()
    (tmp_path / "schema.json").write_text('{"type": "object", "required": ["b"]}')
    second = load_spec(write(tmp_path, body))
    assert second.fingerprint() != first.fingerprint()
    before, after = first.describe(), second.describe()
    assert [key for key in before if before[key] != after[key]] == [
        "generation.response_schema"
    ]


def test_describe_is_flat_json_and_names_what_differs(tmp_path: Path) -> None:
    one = load_spec(write(tmp_path, "[generation]\ntemperature = 0.2"))
    two = load_spec(
        write(tmp_path, "[generation]\ntemperature = 0.7\n[limits]\nconcurrency = 3")
    )
    described = one.describe()
    json.dumps(described)  # plain JSON values only
    assert all(isinstance(key, str) and "." in key for key in described)
    assert described["provider.model"] == "gemini-3.1-pro-preview"
    assert described["input.path"] == str((tmp_path / "rows.jsonl").resolve())
    assert not any(
        key.startswith(("limits.", "pricing.", "output.dir")) for key in described
    )
    differs = {key for key in described if described[key] != two.describe()[key]}
    assert differs == {"generation.temperature"}


def test_fingerprint_of_a_directly_built_spec(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, ""))
    rebuilt = JobSpec(
        name="x", path=spec.path, provider=spec.provider, input=spec.input
    )
    assert rebuilt.fingerprint() == spec.fingerprint()


class TestRowOverrides:
    settings = GenerationSettings(temperature=0.2, thinking_level="low")
    model = "gemini-3.1-pro-preview"

    def test_overrides_are_checked_and_applied(self) -> None:
        merged = apply_row_overrides(
            self.settings, {"temperature": 1.0, "thinking_level": "HIGH"}, self.model
        )
        assert (merged.temperature, merged.thinking_level) == (1.0, "high")
        assert apply_row_overrides(self.settings, {}, self.model) is self.settings

    def test_null_means_not_given(self) -> None:
        merged = apply_row_overrides(
            self.settings, {"temperature": None, "top_k": 5}, self.model
        )
        assert (merged.temperature, merged.top_k) == (0.2, 5)

    @pytest.mark.parametrize(
        ("overrides", "fragment"),
        [
            (
                {"temperature": 3},
                "generation.temperature: expected a number from 0 to 2, got 3",
            ),
            ({"temprature": 1}, 'did you mean "temperature"?'),
            ({"thinking_level": "minimal"}, "generation.thinking_level"),
            ({"max_output_tokens": 10**6}, "at most 65536"),
            ({"image_size": "1K"}, "cannot output images"),
            ({"response_schema_file": "x.json"}, "only be named in the job spec"),
            ({"tools_file": "t.json"}, "only be named in the job spec"),
            ({"stop_sequences": "x"}, "a list"),
        ],
    )
    def test_bad_overrides_make_the_row_invalid(
        self, overrides: dict[str, object], fragment: str
    ) -> None:
        with pytest.raises(RowInvalid) as caught:
            apply_row_overrides(self.settings, overrides, self.model)
        assert fragment in caught.value.reason

    def test_overrides_must_be_an_object(self) -> None:
        with pytest.raises(RowInvalid, match="expected an object"):
            apply_row_overrides(self.settings, ["temperature"], self.model)  # type: ignore[arg-type]

    def test_row_cannot_switch_to_plain_text_when_the_spec_has_a_schema(self) -> None:
        settings = GenerationSettings(
            response_schema={"type": "object"}, response_mime_type="application/json"
        )
        with pytest.raises(RowInvalid, match="response_mime_type"):
            apply_row_overrides(
                settings, {"response_mime_type": "text/plain"}, self.model
            )


class TestTemplates:
    def test_pieces_and_escapes(self) -> None:
        assert parse_template("Hi {name}, {{x}} {n}!") == (
            ("Hi ", "name"),
            (", {x} ", "n"),
            ("!", None),
        )
        assert parse_template("no fields") == (("no fields", None),)
        assert parse_template("{a}{b}") == (("", "a"), ("", "b"), ("", None))
        assert parse_template("{{{a}}}") == (("{", "a"), ("}", None))
        assert parse_template("{first-name}") == (("", "first-name"), ("", None))

    @pytest.mark.parametrize(
        "template", ["{", "}", "{a", "a}", "{a!r}", "{a:3}", "{ a}", "{}"]
    )
    def test_bad_templates_raise_value_error_with_a_fix(self, template: str) -> None:
        with pytest.raises(ValueError, match="write"):
            parse_template(template)


@pytest.mark.parametrize(
    "job", sorted((ROOT / "jobs").glob("*.toml")), ids=lambda path: path.name
)
def test_sample_jobs_are_valid(job: Path) -> None:
    spec = load_spec(job)
    # the official API needs no base_url; other front doors name theirs (--emulator replaces it)
    assert (spec.provider.base_url is None) == (spec.provider.kind != "openai")
    assert spec.input.path.is_file()
    assert spec.warnings == ()  # current model ids: nothing deprecated, nothing unknown


def test_sample_extraction_job_has_its_schema() -> None:
    spec = load_spec(ROOT / "jobs" / "extract.toml")
    assert spec.generation.response_schema is not None
    assert "total" in spec.generation.response_schema["required"]
    summarise = load_spec(ROOT / "jobs" / "summarise.toml")
    assert (
        summarise.generation.thinking_level == "low"
        and summarise.output.keep_fields == ("title",)
    )


TOOLS = '[{"name": "extract", "parameters": {"type": "object"}}, {"name": "lookup"}]'


def test_tool_config_sets_the_function_calling_mode(tmp_path: Path) -> None:
    (tmp_path / "tools.json").write_text(TOOLS)
    spec = load_spec(
        write(
            tmp_path,
            '[generation]\ntools_file = "tools.json"\n'
            'tool_config = { mode = "any", allowed_function_names = ["extract"] }',
        )
    )
    assert spec.generation.function_calling_mode == "ANY"
    assert spec.generation.allowed_function_names == ("extract",)


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [
        ('{ mode = "SOMETIMES" }', "generation.tool_config.mode", '"AUTO", "ANY"'),
        ("{ allowed_function_names = [] }", "generation.tool_config.mode", "missing"),
        (
            '{ mode = "AUTO", allowed_function_names = ["extract"] }',
            "generation.tool_config.allowed_function_names",
            'needs mode "ANY" or "VALIDATED"',
        ),
        (
            '{ mode = "ANY", allowed_function_names = ["nope"] }',
            "generation.tool_config.allowed_function_names",
            "not among the functions",
        ),
        ('{ mode = "ANY", when = 1 }', "generation.tool_config.when", "unknown"),
    ],
)
def test_bad_tool_configs_name_the_key(
    tmp_path: Path, config: str, key: str, fragment: str
) -> None:
    (tmp_path / "tools.json").write_text(TOOLS)
    error = refused(
        write(
            tmp_path, f'[generation]\ntools_file = "tools.json"\ntool_config = {config}'
        )
    )
    assert error.key == key and fragment in str(error), str(error)


def test_a_calling_mode_without_tools_is_refused(tmp_path: Path) -> None:
    error = refused(write(tmp_path, '[generation]\ntool_config = { mode = "ANY" }'))
    assert error.key == "generation.tool_config" and "tools_file" in str(error)
