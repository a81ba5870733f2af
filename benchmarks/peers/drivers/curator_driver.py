"""The Bespoke Curator driver: `curator.LLM` with its `openai` backend aimed at the emulator's `/v1`.

Runs inside `benchmarks/.venv-curator`. Telemetry, the hosted viewer, the code tracker and litellm's cost-map
download are switched off by environment variables before Curator is imported (`CURATOR_ENV` in
`benchmarks/peers/tools.py` sets them; this file sets them again as a second guard). Limits are explicit:
`max_requests_per_minute`, `max_tokens_per_minute` (Curator's token meter also counts an estimate of the output,
so it is set far above anything the run can use: the emulator limits requests only), `max_concurrent_requests`,
`max_retries = max_attempts - 1` and `request_timeout`. Caching is off (`CURATOR_DISABLE_CACHE=1`) except in the
kill-and-rerun scenario, where the cache is how Curator resumes, so the driver leaves it on there.

After the run, one JSON line per row that has a response (ok or failed) is written to the output file, read from
Curator's own `responses_*.jsonl` files in its working directory.

    python curator_driver.py CONFIG.json      # the key comes from $BENCH_API_KEY
"""

from __future__ import annotations

import importlib.util
import os

# tiktoken downloads its encodings on first use; litellm ships them, so point tiktoken at that copy.
_litellm = importlib.util.find_spec("litellm")
if _litellm is not None and _litellm.submodule_search_locations:
    _tokenizers = os.path.join(
        _litellm.submodule_search_locations[0], "litellm_core_utils", "tokenizers"
    )
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", _tokenizers)

for _name, _value in {
    "TELEMETRY_ENABLED": "false",
    "CURATOR_VIEWER": "0",
    "BESPOKE_CURATOR_TRACKER_DISABLED": "1",
    "CURATOR_DISABLE_RICH_DISPLAY": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TQDM_DISABLE": "1",
}.items():
    os.environ.setdefault(_name, _value)

import glob
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bespokelabs import curator


class Bench(curator.LLM):
    """The row's prompt as the user message; the reply's length kept (the text itself is not needed)."""

    def prompt(self, input: dict[str, Any]) -> str:
        return input["prompt"]

    def parse(self, input: dict[str, Any], response: str) -> dict[str, Any]:
        return {"id": input["id"], "chars": len(response or "")}


def outcomes(work_dir: Path) -> dict[str, dict[str, Any]]:
    """id -> outcome line, from every responses file Curator wrote (an ok response wins over a failed one)."""
    found: dict[str, dict[str, Any]] = {}
    for path in glob.glob(str(work_dir / "**" / "responses_*.jsonl"), recursive=True):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    response = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by kill -9
                    continue
                row = (response.get("generic_request") or {}).get("original_row") or {}
                row_id = row.get("id")
                if row_id is None:
                    continue
                errors = response.get("response_errors")
                if errors:
                    found.setdefault(
                        row_id, {"id": row_id, "ok": False, "error": str(errors)[:200]}
                    )
                else:
                    found[row_id] = {"id": row_id, "ok": True}
    return found


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    logging.getLogger("curator").setLevel(config.get("log_level", "WARNING"))
    with open(config["rows"], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    work_dir = Path(config["work_dir"])
    llm = Bench(
        model_name=config["model"],
        backend="openai",
        backend_params={
            "base_url": config["base_url"],
            "api_key": os.environ["BENCH_API_KEY"],
            "max_requests_per_minute": int(config["rpm"]),
            "max_tokens_per_minute": int(config.get("tpm") or 1_000_000_000),
            "max_concurrent_requests": int(config["concurrency"]),
            "max_retries": int(config["max_attempts"]) - 1,
            "request_timeout": int(config["timeout_s"]),
            "require_all_responses": False,
        },
    )
    llm(rows, working_dir=str(work_dir))
    found = outcomes(work_dir)
    with open(config["out"], "w", encoding="utf-8") as out:
        out.writelines(json.dumps(line) + "\n" for line in found.values())
    return (
        0
        if len(found) == len(rows) and all(line["ok"] for line in found.values())
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
