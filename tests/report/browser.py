"""Headless Chromium for the report tests: a screenshot of a page with the network denied, or a skip that
says why when no Chromium is installed (Debian: `apt-get install chromium`; .ci/run installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# An external resource in a page: src/href/url() pointing at a scheme or a protocol-relative address.
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|xlink:href|srcset|action)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)(?!#))|url\(\s*["']?\s*(?:https?:|//)""",
    re.IGNORECASE,
)


def external_references(page: str) -> list[str]:
    """Every reference in `page` to something outside it (data: URIs are inside it, so they do not count)."""
    found = []
    for match in EXTERNAL.finditer(page):
        tail = page[match.end() - 8 : match.end() + 40]
        if "data:" in page[match.start() : match.end() + 5]:
            continue
        found.append(tail)
    return found


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium binary found (apt-get install chromium): the report's browser checks need one"
    )


def screenshot(page: Path, out: Path, *, height: int = 2600) -> Path:
    """Load `page` in headless Chromium with every network request refused, and save a PNG of it."""
    args = [
        chromium(),
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        # deny the network: no name resolves and every connection goes to a proxy that is not there
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        f"--window-size=1100,{height}",
        f"--screenshot={out}",
        page.resolve().as_uri(),
    ]
    env = {**os.environ, "HOME": str(out.parent)}
    subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=True, env=env
    )
    assert out.is_file() and out.stat().st_size > 10_000, "Chromium made no screenshot"
    artifacts = os.environ.get("PIPELINE_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(artifacts) / out.name)
    return out


def dump_dom(page: Path, home: Path) -> str:
    """The page's DOM after Chromium loaded it (network denied as above)."""
    args = [
        chromium(),
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    env = {**os.environ, "HOME": str(home)}
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=True, env=env
    )
    return done.stdout
