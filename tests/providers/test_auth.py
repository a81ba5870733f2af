"""Credentials: which variable is read, what a missing one says, and that the secret never shows."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import CredentialsError
from pipeline.providers import GcloudCredentials, StaticCredentials, resolve_credentials
from pipeline.spec._load import ProviderSpec


def spec(kind: Any, **kwargs: Any) -> ProviderSpec:
    return ProviderSpec(kind=kind, model="gemini-3.1-pro-preview", **kwargs)


@pytest.mark.parametrize(
    ("environ", "variable", "value"),
    [
        (
            {"GEMINI_API_KEY": "k1-aaaaaaaa", "GOOGLE_API_KEY": "k2-bbbbbbbb"},
            "GEMINI_API_KEY",
            "k1-aaaaaaaa",
        ),
        (
            {"GEMINI_API_KEY": "", "GOOGLE_API_KEY": "k2-bbbbbbbb"},
            "GOOGLE_API_KEY",
            "k2-bbbbbbbb",
        ),
    ],
)
def test_gemini_default_variables(
    environ: dict[str, str], variable: str, value: str
) -> None:
    credentials = resolve_credentials(spec("gemini"), environ)
    assert credentials.env_var == variable
    assert credentials.headers() == {"x-goog-api-key": value}


def test_named_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = resolve_credentials(
        spec("gemini", api_key_env="MY_KEY"),
        {"MY_KEY": "mine-123456", "GEMINI_API_KEY": "x"},
    )
    assert credentials.headers() == {"x-goog-api-key": "mine-123456"}


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        (
            spec("gemini"),
            "set GEMINI_API_KEY (or GOOGLE_API_KEY) to your API key; the spec's [provider] api_key_env names the variable",
        ),
        (spec("gemini", api_key_env="TEAM_KEY"), "set TEAM_KEY to your API key"),
        (spec("openai", base_url="http://x/v1"), "set OPENAI_API_KEY to your API key"),
        (spec("vertex", project="p", token_env="TOK"), "set TOK to an access token"),
    ],
)
def test_missing_key_names_the_variable(provider: ProviderSpec, message: str) -> None:
    with pytest.raises(
        CredentialsError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        resolve_credentials(provider, {"PATH": ""})


def test_openai_bearer() -> None:
    credentials = resolve_credentials(spec("openai"), {"OPENAI_API_KEY": "sk-12345678"})
    assert credentials.headers() == {"authorization": "Bearer sk-12345678"}


def test_vertex_token_from_the_environment() -> None:
    credentials = resolve_credentials(
        spec("vertex", project="p"), {"VERTEX_ACCESS_TOKEN": "ya29.abcdefgh"}
    )
    assert credentials.env_var == "VERTEX_ACCESS_TOKEN"
    assert credentials.headers() == {"authorization": "Bearer ya29.abcdefgh"}


def test_the_secret_stays_out_of_repr() -> None:
    credentials = StaticCredentials(
        "GEMINI_API_KEY", "x-goog-api-key", "AIzaSy-secret-value"
    )
    assert "AIzaSy-secret-value" not in repr(credentials)
    assert "AIzaSy-secret-value" not in str(credentials)
    assert "GEMINI_API_KEY" in repr(credentials)


def fake_gcloud(tmp_path: Path, script: str) -> Path:
    """A `gcloud` on a private PATH: a Python script standing in for the real one."""
    binary = tmp_path / "gcloud"
    binary.write_text(f"#!{sys.executable}\n{script}\n")
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return binary


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_gcloud_tokens_refresh_before_they_expire(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = (
        f"import pathlib; p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1 if p.exists() else 1; "
        "p.write_text(str(n)); print(f'ya29.token-{n}')"
    )
    gcloud = fake_gcloud(tmp_path, script)
    resolved = resolve_credentials(spec("vertex", project="p"), {"PATH": str(tmp_path)})
    assert isinstance(resolved, GcloudCredentials)
    clock = Clock()
    credentials = GcloudCredentials(command=(str(gcloud),), clock=clock)
    await credentials.refresh_if_needed()
    assert credentials.headers() == {"authorization": "Bearer ya29.token-1"}
    clock.now += 50 * 60  # 10 minutes left: still fine
    await credentials.refresh_if_needed()
    assert credentials.headers() == {"authorization": "Bearer ya29.token-1"}
    clock.now += 6 * 60  # 4 minutes left: renew
    await credentials.refresh_if_needed()
    assert credentials.headers() == {"authorization": "Bearer ya29.token-2"}
    assert "ya29" not in repr(credentials)


def test_gcloud_headers_fetch_a_token_when_never_refreshed(tmp_path: Path) -> None:
    gcloud = fake_gcloud(tmp_path, "print('ya29.first')")
    assert GcloudCredentials(command=(str(gcloud),)).headers() == {
        "authorization": "Bearer ya29.first"
    }


async def test_gcloud_failure_says_what_to_do(tmp_path: Path) -> None:
    gcloud = fake_gcloud(
        tmp_path,
        "import sys; print('ERROR: (gcloud.auth) no credentialed accounts', file=sys.stderr); sys.exit(1)",
    )
    with pytest.raises(CredentialsError, match="gcloud auth login") as caught:
        await GcloudCredentials(command=(str(gcloud),)).refresh_if_needed()
    assert "no credentialed accounts" in str(caught.value)


def test_no_gcloud_and_no_token(tmp_path: Path) -> None:
    assert os.access(tmp_path, os.R_OK)
    with pytest.raises(CredentialsError, match="VERTEX_ACCESS_TOKEN"):
        resolve_credentials(spec("vertex", project="p"), {"PATH": str(tmp_path)})


async def test_resolved_gcloud_is_the_one_on_the_runs_path(tmp_path: Path) -> None:
    """The gcloud found on the PATH the run was given is the one that runs, with the right arguments."""
    script = (
        "import sys; assert sys.argv[1:] == ['auth', 'print-access-token'], sys.argv; "
        "print('ya29.from-the-path')"
    )
    fake_gcloud(tmp_path, script)
    assert str(tmp_path) not in os.environ.get("PATH", "")
    credentials = resolve_credentials(
        spec("vertex", project="p"), {"PATH": str(tmp_path)}
    )
    assert isinstance(credentials, GcloudCredentials)
    await credentials.refresh_if_needed()
    assert credentials.headers() == {"authorization": "Bearer ya29.from-the-path"}
    assert "ya29" not in repr(credentials) and "ya29" not in credentials.hint()


def test_a_named_token_env_never_falls_back_to_gcloud(tmp_path: Path) -> None:
    fake_gcloud(tmp_path, "print('ya29.unused')")
    with pytest.raises(CredentialsError, match="set TEAM_TOKEN to an access token"):
        resolve_credentials(
            spec("vertex", project="p", token_env="TEAM_TOKEN"), {"PATH": str(tmp_path)}
        )
    named = resolve_credentials(
        spec("vertex", project="p", token_env="TEAM_TOKEN"),
        {"PATH": str(tmp_path), "TEAM_TOKEN": "ya29.named"},
    )
    assert named.env_var == "TEAM_TOKEN"
    assert named.headers() == {"authorization": "Bearer ya29.named"}
