"""Providers end to end: a user switches between Gemini, Vertex and an OpenAI-compatible endpoint by changing
only the `[provider]` table, and gets the same outcomes, the same token counts and the same error handling.

Every run goes through the CLI in a subprocess (`support.run_cli`) against an emulator on loopback. The
emulator answers the same request with the same reply whichever front door it came through, so any difference
between the providers' results is the providers' doing. Both OpenAI-compatible flavours are covered: `/v1`
(an aggregator: `completion_tokens_details.reasoning_tokens`) and `/v1beta/openai` (Google's own layer: thinking
only in `total_tokens`).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from support import ROOT, JobWriter, run_cli

from pipeline.emulator import EmulatorConfig, EmulatorThread

KEY = "e2e-secret-3f9c1a7b5d2e"  # the only key (and Vertex token) the emulators accept
ENV = {"GEMINI_API_KEY": KEY, "OPENAI_API_KEY": KEY, "VERTEX_ACCESS_TOKEN": KEY}
MAX_ATTEMPTS = 3

ProviderTable = Callable[[str], dict[str, Any]]
PROVIDERS: dict[str, ProviderTable] = {
    "gemini": lambda base: {"kind": "gemini", "base_url": base},
    "vertex": lambda base: {"kind": "vertex", "base_url": base, "project": "my-project", "location": "global"},
    "openai": lambda base: {"kind": "openai", "base_url": base + "/v1"},
    "openai-google": lambda base: {"kind": "openai", "base_url": base + "/v1beta/openai"},
}  # fmt: skip

# i % 20 -> (directive, status, attempts)
CASES: dict[int, tuple[str, str, int]] = {
    1: ("[[emu:fail=503x1]]", "ok", 2),
    2: ("[[emu:block=SAFETY]]", "blocked", 1),
    4: ("[[emu:max_tokens]]", "truncated", 1),
    5: ("[[emu:fail=400]]", "failed", 1),
    6: ("[[emu:finish=SAFETY]]", "blocked", 1),
    7: ("[[emu:malformedx1]]", "ok", 2),
    8: ("[[emu:fail=500]]", "failed", MAX_ATTEMPTS),
}


def expected(i: int) -> tuple[str, str, int]:
    # Few 429s: each one rightly slows the whole pool down (the limiter takes it as the server's limit).
    if i % 100 == 99:
        return ("[[emu:fail=429x1,retry=0.2s]]", "ok", 2)
    return CASES.get(i % 20, ("", "ok", 1))


@dataclass(frozen=True, slots=True)
class Run:
    out: Path
    returncode: int
    stdout: str
    stderr: str
    ledger: dict[str, Any]

    def rows(self) -> dict[str, dict[str, Any]]:
        table = ds.dataset(self.out / "results").to_table().to_pylist()
        return {str(row["id"]): row for row in table}


def run_provider(
    make_job: JobWriter,
    tmp_path: Path,
    name: str,
    rows: list[dict[str, Any]],
    provider: ProviderTable,
    *,
    env: Mapping[str, str] = ENV,
    emulator: EmulatorConfig | None = None,
    **tables: Mapping[str, Any],
) -> Run:
    """Run `rows` through the CLI with `provider` pointed at a fresh emulator that only accepts KEY."""
    config = emulator or EmulatorConfig(port=0, api_key=KEY)
    with EmulatorThread(config) as emu:
        spec = {"model": "gemini-3.1-pro-preview", **provider(emu.base_url)}
        job = make_job(rows, name=name, provider=spec, **tables)
        out = tmp_path / f"out-{name}"
        done = run_cli("run", str(job), "--out", str(out), "--quiet", env=env)
        ledger = emu.ledger()
    return Run(out, done.returncode, done.stdout, done.stderr, ledger)


def assert_secret_never_written(run: Run, secret: str) -> None:
    """Not in stdout or stderr, and not in any byte of any file of the run directory (journal included)."""
    assert secret not in run.stdout + run.stderr
    files = [path for path in run.out.rglob("*") if path.is_file()]
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


USAGE = (
    "input_tokens",
    "output_tokens",
    "thinking_tokens",
    "cached_tokens",
    "total_tokens",
)


@pytest.mark.slow
def test_the_same_job_through_every_provider_gives_the_same_outcomes_and_tokens(
    make_job: JobWriter, tmp_path: Path
) -> None:
    rows = [
        {"id": f"doc-{i:03d}", "title": f"Report {i}", "text": f"doc-{i:03d} says {i} things. {expected(i)[0]}"}
        for i in range(200)
    ]  # fmt: skip
    tables: dict[str, Mapping[str, Any]] = {
        "prompt": {"system": "You summarise documents.", "template": "Summarise {title}:\n\n{text}"},
        "generation": {"thinking_level": "low", "max_output_tokens": 1024, "temperature": 0.2},
        "limits": {"concurrency": 16, "max_attempts": MAX_ATTEMPTS, "request_timeout_s": 10.0},
        "output": {"keep_fields": ["title"]},
    }  # fmt: skip
    with ThreadPoolExecutor(len(PROVIDERS)) as pool:
        futures = {
            name: pool.submit(run_provider, make_job, tmp_path, name, rows, table, **tables)
            for name, table in PROVIDERS.items()
        }  # fmt: skip
        runs = {name: future.result() for name, future in futures.items()}

    outcomes: dict[str, dict[str, tuple[object, ...]]] = {}
    for name, run in runs.items():
        assert run.returncode == 1, (name, run.stderr)  # some rows are meant to fail
        table = run.rows()
        assert len(table) == 200
        for i in range(200):
            row = table[f"doc-{i:03d}"]
            _, status, attempts = expected(i)
            assert (row["status"], row["attempts"]) == (status, attempts), (name, row)
            assert row["title"] == f"Report {i}"
            if status == "ok":
                assert f"doc-{i:03d}" in str(
                    row["text"]
                )  # each reply belongs to its own row
                assert row["thinking_tokens"] > 0, (
                    name,
                    row,
                )  # thinking_level low always thinks
        outcomes[name] = {
            key: (
                row["status"],
                row["attempts"],
                row["cost_usd"],
                *(row[k] for k in USAGE),
            )
            for key, row in table.items()
        }
        # What the provider reported is what the emulator billed.
        billed = run.ledger["tokens"]
        assert sum(row["input_tokens"] for row in table.values()) == billed["input"], (
            name
        )
        assert (
            sum(row["output_tokens"] for row in table.values()) == billed["output"]
        ), name
        assert (
            sum(row["thinking_tokens"] for row in table.values()) == billed["thinking"]
        ), name
        assert_secret_never_written(run, KEY)

    assert outcomes["vertex"] == outcomes["gemini"]
    assert (
        outcomes["openai"] == outcomes["gemini"]
    )  # reasoning_tokens in completion_tokens_details
    assert (
        outcomes["openai-google"] == outcomes["gemini"]
    )  # thinking only in total_tokens
    summaries = {
        name: json.loads((run.out / "summary.json").read_text())
        for name, run in runs.items()
    }
    totals = {name: summary["tokens"] for name, summary in summaries.items()}
    assert all(tokens == totals["gemini"] for tokens in totals.values()), totals
    assert all(s["rows"] == summaries["gemini"]["rows"] for s in summaries.values())


REFUSALS = [
    # (provider, the emulator's refusal) -> the variable the message must name
    pytest.param("gemini", {}, "GEMINI_API_KEY", id="gemini-400-API_KEY_INVALID"),
    pytest.param("vertex", {}, "VERTEX_ACCESS_TOKEN", id="vertex-401"),
    pytest.param("openai", {}, "OPENAI_API_KEY", id="openai-401"),
    pytest.param("openai-google", {"api_key_env": "TEAM_AGGREGATOR_KEY"}, "TEAM_AGGREGATOR_KEY", id="google-compat-401"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "extra", "variable"), REFUSALS)
def test_a_refused_key_stops_the_run_naming_the_variable(
    make_job: JobWriter,
    tmp_path: Path,
    kind: str,
    extra: dict[str, str],
    variable: str,
) -> None:
    wrong = "wrong-key-9d8c7b6a5f4e"
    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(60)]

    def table(base: str) -> dict[str, Any]:
        return {**PROVIDERS[kind](base), **extra}

    run = run_provider(make_job, tmp_path, kind, rows, table, env={variable: wrong})
    assert run.returncode == 2, run.stderr
    assert "CredentialsError" in run.stderr and variable in run.stderr
    assert (
        run.ledger["requests"] <= 16
    )  # the first wave in flight at most, then the run stops
    assert_secret_never_written(run, wrong)


class _Refuser(BaseHTTPRequestHandler):
    """Answers every POST with 403 in the provider's shape, echoing the key as some servers do."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        bearer = self.headers.get("authorization", "").removeprefix("Bearer ")
        key = self.headers.get("x-goog-api-key") or bearer
        text = f"Permission denied for key {key}: this key may not use the model"
        if self.path.startswith("/v1/"):
            body: object = {"error": {"message": text, "type": "permission_error", "param": None, "code": "permission_denied"}}  # fmt: skip
        else:
            body = {
                "error": {"code": 403, "message": text, "status": "PERMISSION_DENIED"}
            }
        raw = json.dumps(body).encode()
        self.send_response(403)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def refusing_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback server that refuses everything with 403; yields its base URL and the headers it received."""
    seen: list[dict[str, str]] = []

    class Handler(_Refuser):
        def do_POST(self) -> None:
            seen.append({name.lower(): value for name, value in self.headers.items()})
            super().do_POST()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


SECRET = "sk-echoed-1a2b3c4d5e6f7a8b"
AUTH_HEADERS = [
    # kind, variable, extra [provider] keys, the auth headers on the wire
    ("gemini", "GEMINI_API_KEY", {}, {"x-goog-api-key": SECRET}),
    ("vertex", "VERTEX_ACCESS_TOKEN", {"quota_project": "billing-project"},
     {"authorization": f"Bearer {SECRET}", "x-goog-user-project": "billing-project"}),
    ("openai", "OPENAI_API_KEY", {}, {"authorization": f"Bearer {SECRET}"}),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "variable", "extra", "auth"), AUTH_HEADERS)
def test_a_403_stops_the_run_and_scrubs_an_echoed_key(
    make_job: JobWriter,
    tmp_path: Path,
    kind: str,
    variable: str,
    extra: dict[str, str],
    auth: dict[str, str],
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(40)]
    with refusing_server() as (base, seen):
        table = {"model": "gemini-3.1-pro-preview", **PROVIDERS[kind](base), **extra}
        job = make_job(rows, provider=table)
        out = tmp_path / "out"
        done = run_cli("run", str(job), "--out", str(out), env={variable: SECRET})
    run = Run(out, done.returncode, done.stdout, done.stderr, {})
    assert done.returncode == 2, done.stderr
    assert "refused the credentials" in done.stderr and variable in done.stderr
    # The server's own words, with the key it echoed scrubbed.
    assert "403" in done.stderr and "Permission denied for key ***" in done.stderr
    assert 1 <= len(seen) <= 16
    for headers in seen:
        assert {name: headers.get(name) for name in auth} == auth
        others = {"x-goog-api-key", "authorization", "x-goog-user-project"} - set(auth)
        assert not others & set(headers)  # one credential, sent one way
    assert_secret_never_written(run, SECRET)


@pytest.mark.parametrize(
    ("kind", "variable"),
    [("openai", "OPENAI_API_KEY"), ("vertex", "VERTEX_ACCESS_TOKEN")],
)
def test_a_missing_key_stops_before_anything_is_sent(
    make_job: JobWriter, tmp_path: Path, kind: str, variable: str
) -> None:
    no_gcloud = tmp_path / "empty-bin"
    no_gcloud.mkdir()
    rows = [{"id": "a", "prompt": "hi"}]
    run = run_provider(
        make_job, tmp_path, kind, rows, PROVIDERS[kind], env={"PATH": str(no_gcloud)}
    )
    assert run.returncode == 2, run.stderr
    assert f"set {variable}" in run.stderr
    assert run.ledger["requests"] == 0


def test_vertex_takes_its_token_from_gcloud_on_the_path(
    make_job: JobWriter, tmp_path: Path
) -> None:
    """No VERTEX_ACCESS_TOKEN: the token comes from `gcloud auth print-access-token`, found on PATH."""
    token = "ya29.fake-gcloud-token-0c1d2e3f4a5b"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "gcloud-calls"
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"with open({str(calls)!r}, 'a') as f: f.write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"print({token!r})\n"
    )
    gcloud.chmod(gcloud.stat().st_mode | stat.S_IEXEC)
    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(20)]

    def table(base: str) -> dict[str, Any]:
        return {**PROVIDERS["vertex"](base), "quota_project": "billing-project"}

    run = run_provider(
        make_job, tmp_path, "vertex", rows, table,
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        emulator=EmulatorConfig(port=0, api_key=token),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert {row["status"] for row in run.rows().values()} == {"ok"}
    assert set(calls.read_text().splitlines()) == {"auth print-access-token"}
    assert_secret_never_written(run, token)


@pytest.mark.slow
@pytest.mark.parametrize("flavour", ["openai", "openai-google"])
def test_openai_429s_slow_the_run_down_instead_of_storming(
    make_job: JobWriter, tmp_path: Path, flavour: str
) -> None:
    """No requests_per_minute in the spec: the 429s' retry-after / x-ratelimit-* headers pace the pool."""
    rows = [{"id": f"r{i}", "prompt": f"p{i}"} for i in range(60)]
    run = run_provider(
        make_job, tmp_path, flavour, rows, PROVIDERS[flavour],
        emulator=EmulatorConfig(port=0, api_key=KEY, rpm=20, window_s=0.5),
        limits={"concurrency": 16, "max_attempts": 6},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert {row["status"] for row in run.rows().values()} == {"ok"}
    # The first wave in flight when the window fills meets 429s; once paced, (almost) none do.
    assert 0 < run.ledger["rate_limited"] <= 16 + 4, run.ledger["per_window"]


def _without(path: Path, *tables: str) -> dict[str, Any]:
    spec = tomllib.loads(path.read_text())
    return {key: value for key, value in spec.items() if key not in ("name", *tables)}


@pytest.mark.slow
def test_the_sample_jobs_differ_only_in_provider_and_agree_with_emulator(
    tmp_path: Path,
) -> None:
    """jobs/aggregator.toml and jobs/vertex.toml are jobs/summarise.toml with another [provider]."""
    jobs = {
        name: ROOT / "jobs" / f"{name}.toml"
        for name in ("summarise", "aggregator", "vertex")
    }
    base = _without(jobs["summarise"], "provider")
    assert _without(jobs["aggregator"], "provider", "pricing") == base
    assert _without(jobs["vertex"], "provider") == base

    def run(name: str) -> Run:
        out = tmp_path / name
        done = run_cli(
            "run", str(jobs[name]), "--out", str(out), "--emulator", "--limit", "20"
        )
        return Run(out, done.returncode, done.stdout, done.stderr, {})

    with ThreadPoolExecutor(3) as pool:
        runs = dict(zip(jobs, pool.map(run, jobs), strict=True))
    for name, done in runs.items():
        assert done.returncode == 0, (name, done.stderr)
        assert "emulator" in done.stderr.splitlines()[0]
    tables = {name: done.rows() for name, done in runs.items()}
    for name, table in tables.items():
        assert len(table) == 20 and {row["status"] for row in table.values()} == {"ok"}
        usage = {key: tuple(row[k] for k in USAGE) for key, row in table.items()}
        assert usage == {
            key: tuple(row[k] for k in USAGE)
            for key, row in tables["summarise"].items()
        }, name
    cost = {
        name: sum(row["cost_usd"] for row in table.values())
        for name, table in tables.items()
    }
    assert cost["vertex"] == pytest.approx(cost["summarise"])
    # The aggregator's [pricing]: 1.2 / 7.2 per million against Google's 2 / 12 for 3.1 Pro.
    assert cost["aggregator"] == pytest.approx(cost["summarise"] * 0.6)
