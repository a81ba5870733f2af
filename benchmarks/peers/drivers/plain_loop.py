"""The plain loop: what a careful user writes by hand with aiohttp and one semaphore.

Standard library plus aiohttp only, so it runs in any environment. It reads every row into memory, paces
request starts at the configured rate (one slot every 60/rpm seconds), keeps at most `concurrency` requests in
flight, retries 429, 5xx, timeouts and dropped connections with exponential backoff (or the server's
`retry-after` when there is one) up to `max_attempts`, and appends one JSON line per finished row to the output
file. No journal, no resume: a rerun sends every row again.

    python plain_loop.py CONFIG.json      # the key comes from $BENCH_API_KEY
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import aiohttp

RETRYABLE = {408, 429, 500, 502, 503, 504}


def message_content(row: dict[str, Any], media_dir: Path | None) -> Any:
    """The user message's content: the prompt text, plus image data URLs when the row names media."""
    media = row.get("media") or []
    if not media:
        return row["prompt"]
    parts: list[dict[str, Any]] = [{"type": "text", "text": row["prompt"]}]
    for name in media:
        path = (media_dir or Path()) / name
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(
            {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}
        )
    return parts


class Pacer:
    """One request start every `60 / rpm` seconds, in order of arrival (no burst)."""

    def __init__(self, rpm: float | None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self.next_slot = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


async def run(config: dict[str, Any], rows: list[dict[str, Any]], out: TextIO) -> int:
    media_dir = Path(config["media_dir"]) if config.get("media_dir") else None
    url = config["base_url"].rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {os.environ['BENCH_API_KEY']}"}
    attempts = int(config["max_attempts"])
    timeout = aiohttp.ClientTimeout(total=float(config["timeout_s"]))
    semaphore = asyncio.Semaphore(int(config["concurrency"]))
    pacer = Pacer(config.get("rpm"))
    failed = 0
    connector = aiohttp.TCPConnector(limit=int(config["concurrency"]))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(row: dict[str, Any]) -> None:
            nonlocal failed
            body = {
                "model": config["model"],
                "messages": [
                    {"role": "user", "content": message_content(row, media_dir)}
                ],
            }
            error = ""
            for attempt in range(1, attempts + 1):
                retry_after: str | None = None
                async with semaphore:
                    await pacer.wait()
                    try:
                        async with session.post(
                            url, json=body, headers=headers, timeout=timeout
                        ) as response:
                            payload = await response.read()
                            status = response.status
                            retry_after = response.headers.get("retry-after")
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        status, payload = 0, repr(exc).encode()
                if status == 200:
                    reply = json.loads(payload)
                    text = reply["choices"][0]["message"].get("content") or ""
                    out.write(
                        json.dumps({"id": row["id"], "ok": True, "chars": len(text)})
                        + "\n"
                    )
                    out.flush()
                    return
                error = f"{status}: {payload[:200].decode(errors='replace')}"
                if attempt == attempts or (status and status not in RETRYABLE):
                    break
                if retry_after:
                    delay = float(retry_after)
                else:
                    delay = min(60.0, 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                await asyncio.sleep(delay)
            failed += 1
            out.write(json.dumps({"id": row["id"], "ok": False, "error": error}) + "\n")
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
