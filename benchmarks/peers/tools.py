"""How each tool is started for a scenario, and where its outcomes are read afterwards.

- `ours-openai`: `python -m pipeline run JOB --out DIR --quiet`, provider kind "openai" at the emulator's `/v1`
  (the wire format every peer speaks); `ours-gemini`: the same with kind "gemini" at the emulator's root.
  Outcomes: the Parquet dataset in DIR/results.
- `curator`, `litellm`, `plain`: a driver under `drivers/` run by the peer's own interpreter, configured by one
  JSON file. Outcomes: the JSON lines the driver appends (id, ok).

The key reaches every tool through `BENCH_API_KEY`, never through a file. Network switches for the peers:
everything they could fetch (telemetry, cost maps, tokenizer files, the hosted viewer) is off or local, so every
connection goes to 127.0.0.1 (`run_peers.py --audit-network` checks it with strace).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import envs
from .emulator import KEY
from .scenarios import MODEL, Scenario

DRIVERS = Path(__file__).resolve().parent / "drivers"
PRICES = {
    "input_per_million": 0.30,
    "output_per_million": 2.50,
}  # our price table's list price of MODEL (3.5 Flash-Lite)
UNLIMITED_RPM = (
    10_000_000  # what Curator, which needs a limit, gets when the emulator has none
)

CURATOR_ENV = {
    "TELEMETRY_ENABLED": "false",  # PostHog events
    "CURATOR_VIEWER": "0",  # the hosted viewer
    "BESPOKE_CURATOR_TRACKER_DISABLED": "1",
    "CURATOR_DISABLE_RICH_DISPLAY": "1",
    "TQDM_DISABLE": "1",  # the progress bar that replaces the rich display
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm's cost map from the package, not from GitHub
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOG": "WARNING",
    "DO_NOT_TRACK": "1",
}
LABELS = {
    "ours-openai": "pipeline (openai kind)",
    "ours-gemini": "pipeline (gemini kind)",
    "curator": "Bespoke Curator",
    "litellm": "LiteLLM Router",
    "plain": "aiohttp + semaphore",
}


@dataclass(frozen=True, slots=True)
class Launch:
    """A command ready to run: argv, extra environment, and where its outcomes will be."""

    tool: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    outcomes: Path  # DIR/results for ours, a JSON lines file for the peers


def base_env() -> dict[str, str]:
    """The machine's environment without any real credential, plus the benchmark key."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_ACCESS_TOKEN", "_TOKEN"))
    }
    environ["BENCH_API_KEY"] = KEY
    environ["NO_PROXY"] = environ["no_proxy"] = "127.0.0.1,localhost"
    for proxy in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        environ.pop(proxy, None)
    return environ


def launch(
    tool: str,
    scenario: Scenario,
    work: Path,
    base_url: str,
    rows: Path,
    media_dir: Path | None,
) -> Launch:
    """The command that runs `tool` for `scenario` against the emulator at `base_url`."""
    work.mkdir(parents=True, exist_ok=True)
    env = base_env()
    if tool.startswith("ours-"):
        job = write_job(work, tool, scenario, base_url, rows, media_dir)
        out = work / "run"
        argv = (
            sys.executable,
            "-m",
            "pipeline",
            "run",
            str(job),
            "--out",
            str(out),
            "--quiet",
        )
        return Launch(tool, argv, env, out / "results")
    outcomes = work / "outcomes.jsonl"
    config = {
        "base_url": f"{base_url}/v1",
        "model": MODEL,
        "rows": str(rows),
        "media_dir": str(media_dir) if media_dir else None,
        "out": str(outcomes),
        "work_dir": str(work / "tool"),
        "concurrency": scenario.concurrency,
        "rpm": scenario.client_rpm,
        "max_attempts": scenario.max_attempts,
        "timeout_s": scenario.timeout_s,
        "log_level": "WARNING",
        **PRICES,
    }
    if tool == "curator":
        config["rpm"] = int(scenario.client_rpm or UNLIMITED_RPM)
        env.update(CURATOR_ENV)
        env["HF_DATASETS_CACHE"] = str(work / "hf-cache")
        if scenario.kill_at is None:
            env["CURATOR_DISABLE_CACHE"] = "1"
    elif tool == "litellm":
        env.update(LITELLM_ENV)
    config_path = work / "driver.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    python = sys.executable if tool == "plain" else str(envs.python_of(tool))
    driver = {
        "curator": "curator_driver.py",
        "litellm": "litellm_router.py",
        "plain": "plain_loop.py",
    }[tool]
    return Launch(
        tool, (python, str(DRIVERS / driver), str(config_path)), env, outcomes
    )


def write_job(
    work: Path,
    tool: str,
    scenario: Scenario,
    base_url: str,
    rows: Path,
    media_dir: Path | None,
) -> Path:
    """The job spec of `ours-openai` / `ours-gemini`: same model, rows, limits and timeout as the peers."""
    openai = tool == "ours-openai"
    limits = [
        f"concurrency = {scenario.concurrency}",
        f"max_attempts = {scenario.max_attempts}",
        f"request_timeout_s = {scenario.timeout_s!r}",
    ]
    if scenario.client_rpm is not None:
        limits.append(f"requests_per_minute = {scenario.client_rpm!r}")
    lines = [
        f'name = "peers-{scenario.name}"',
        "",
        "[provider]",
        f'kind = "{"openai" if openai else "gemini"}"',
        f'model = "{MODEL}"',
        f"base_url = {json.dumps(f'{base_url}/v1' if openai else base_url)}",
        'api_key_env = "BENCH_API_KEY"',
        "",
        "[input]",
        f"path = {json.dumps(str(rows))}",
        *([f"media_dir = {json.dumps(str(media_dir))}"] if media_dir else []),
        "",
        "[limits]",
        *limits,
        "",
    ]
    path = work / "job.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def read_outcomes(launch: Launch) -> dict[str, bool]:
    """id -> ok, for every row the tool has an outcome for (an ok outcome wins over a failed one)."""
    if launch.tool.startswith("ours-"):
        return _parquet_outcomes(launch.outcomes) or _journal_outcomes(
            launch.outcomes.parent
        )
    found: dict[str, bool] = {}
    if not launch.outcomes.exists():
        # Curator's driver writes its outcomes at the end; a run stopped at the cap left only Curator's own files.
        return (
            _curator_outcomes(launch.outcomes.parent / "tool")
            if launch.tool == "curator"
            else found
        )
    with launch.outcomes.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by kill -9
                continue
            found[record["id"]] = found.get(record["id"], False) or bool(record["ok"])
    return found


def _journal_outcomes(run_dir: Path) -> dict[str, bool]:
    """A run stopped by kill -9 (at the cap) wrote no Parquet yet; its journal has the outcomes (`pipeline status`
    reads the same). Only counts are needed, so the keys stand for rows rather than name them."""
    if not (run_dir / "journal.sqlite").exists():
        return {}
    from pipeline.report import read_status

    rows = read_status(run_dir).get("rows")
    if not isinstance(rows, dict):
        return {}
    ok = int(rows.get("ok", 0))
    not_ok = sum(int(rows.get(k, 0)) for k in ("failed", "blocked", "invalid"))
    return {
        **{f"#ok-{i}": True for i in range(ok)},
        **{f"#not-ok-{i}": False for i in range(not_ok)},
    }


def _parquet_outcomes(results: Path) -> dict[str, bool]:
    if not results.exists():
        return {}
    import pyarrow.dataset as ds

    table = ds.dataset(results, format="parquet").to_table(columns=["id", "status"])
    return {
        row_id: status == "ok"
        for row_id, status in zip(
            table.column("id").to_pylist(),
            table.column("status").to_pylist(),
            strict=True,
        )
    }


def _curator_outcomes(work_dir: Path) -> dict[str, bool]:
    """id -> ok from Curator's `responses_*.jsonl` files (what it has written so far)."""
    found: dict[str, bool] = {}
    for path in work_dir.glob("**/responses_*.jsonl"):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    response = json.loads(line)
                except json.JSONDecodeError:
                    continue
                row = (response.get("generic_request") or {}).get("original_row") or {}
                if "id" in row:
                    found[row["id"]] = found.get(row["id"], False) or not response.get(
                        "response_errors"
                    )
    return found
