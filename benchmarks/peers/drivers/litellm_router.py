"""The LiteLLM Router driver: one deployment, `usage-based-routing-v2`, the Router's own retries.

Runs inside `benchmarks/.venv-litellm` (litellm and its dependencies only). The deployment is litellm's generic
OpenAI-compatible client (`openai/<model>`) aimed at the emulator's `/v1`, with the configured `rpm` as its
limit; the Router retries `max_attempts - 1` times (the OpenAI SDK's own retries are off, so attempts are
counted once) and sleeps as litellm decides (`retry-after` when the server sends one, else exponential backoff).
The Router has no concurrency limit of its own, so an `asyncio.Semaphore` caps requests in flight. One JSON
line per finished row is appended to the output file; there is no resume.

    python litellm_router.py CONFIG.json      # the key comes from $BENCH_API_KEY
"""

from __future__ import annotations

import os

# Never fetch the cost map from the network (litellm does on import unless told not to).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "WARNING")

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import litellm
from litellm import Router


def quiet(level: str) -> None:
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    for name in (
        "LiteLLM",
        "LiteLLM Router",
        "LiteLLM Proxy",
        "litellm",
        "httpx",
        "openai",
    ):
        logging.getLogger(name).setLevel(level)


async def run(config: dict[str, Any], rows: list[dict[str, Any]], out: TextIO) -> int:
    quiet(config.get("log_level", "WARNING"))
    params: dict[str, Any] = {
        "model": f"openai/{config['model']}",
        "api_base": config["base_url"],
        "api_key": os.environ["BENCH_API_KEY"],
        "timeout": float(config["timeout_s"]),
        "max_retries": 0,
    }
    if config.get("rpm"):
        params["rpm"] = int(config["rpm"])
    if config.get("tpm"):
        params["tpm"] = int(config["tpm"])
    # The model's list price, as our price table has it, so litellm prices replies instead of warning on each.
    model_info = {
        "input_cost_per_token": float(config.get("input_per_million", 0.0)) / 1e6,
        "output_cost_per_token": float(config.get("output_per_million", 0.0)) / 1e6,
    }
    router = Router(
        model_list=[
            {"model_name": "bench", "litellm_params": params, "model_info": model_info}
        ],
        routing_strategy="usage-based-routing-v2",
        num_retries=int(config["max_attempts"]) - 1,
        timeout=float(config["timeout_s"]),
    )
    semaphore = asyncio.Semaphore(int(config["concurrency"]))
    failed = 0

    async def one(row: dict[str, Any]) -> None:
        nonlocal failed
        async with semaphore:
            try:
                reply = await router.acompletion(
                    model="bench", messages=[{"role": "user", "content": row["prompt"]}]
                )
                text = reply.choices[0].message.content or ""
                line = {"id": row["id"], "ok": True, "chars": len(text)}
            except Exception as exc:  # noqa: BLE001 - the Router raises whatever the last attempt raised
                failed += 1
                line = {
                    "id": row["id"],
                    "ok": False,
                    "error": f"{type(exc).__name__}: {str(exc)[:200]}",
                }
        out.write(json.dumps(line) + "\n")
        out.flush()

    await asyncio.gather(*(one(row) for row in rows))
    return 1 if failed else 0


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    with open(config["rows"], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(config["out"], "a", encoding="utf-8") as out:
        return asyncio.run(run(config, rows, out))


if __name__ == "__main__":
    sys.exit(main())
