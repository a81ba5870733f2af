"""`[cache]`: one explicit context cache of the system instruction, the tools and shared files.

`files` are paths relative to `[input] media_dir` that every row's prompt starts with. With `enabled = true`
they go into the cache with the system instruction and the tools, and every row names the cache; with
`enabled = false` they are sent with each row (the replies are the same, the bill is not). Errors are `_Bad`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._values import Parser, _Bad, _boolean, _number, _Section, _strings, _text

__all__ = ("CACHE_KEYS", "DEFAULT_CACHE_TTL_S", "CacheSpec", "_cache")

DEFAULT_CACHE_TTL_S = 3600.0  # the API's own default; extended while the run goes on


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """`files` are relative to `media_dir`, as a row's media are; `ttl_s` is the TTL the cache is created with
    and renewed to while the run goes on; `keep` leaves it in place when the run ends (it expires by its TTL)."""

    enabled: bool = False
    files: tuple[str, ...] = ()
    ttl_s: float = DEFAULT_CACHE_TTL_S
    keep: bool = False


CACHE_KEYS: dict[str, Parser] = {
    "enabled": _boolean,
    "files": _strings(_text),
    "ttl_s": _number(positive=True),
    "keep": _boolean,
}


def _cache(
    section: _Section,
    *,
    media_dir: Path | str | None,
    kind: str,
    has_prefix: bool,
) -> CacheSpec:
    """Checks across tables: the files exist under media_dir; caching needs Google's API and something to cache.

    :param has_prefix: the spec has a system instruction or tools (what the cache holds besides files).
    """
    files = section.get("files", ())
    if files and media_dir is None:
        raise _Bad(
            "cache.files",
            "paths are relative to [input] media_dir; add media_dir to [input]",
        )
    for i, name in enumerate(files):
        if isinstance(media_dir, str):
            break  # object storage: the media are checked when the cache is made, not at load
        assert media_dir is not None
        path = (media_dir / name).resolve()
        if not path.is_relative_to(media_dir):
            raise _Bad(f"cache.files[{i}]", f"{name!r} leaves media_dir ({media_dir})")
        if not path.is_file():
            raise _Bad(f"cache.files[{i}]", f"expected a file, but {path} is not one")
    enabled = section.get("enabled", False)
    if enabled and kind == "openai":
        raise _Bad(
            "cache.enabled",
            'explicit context caching is on Google\'s API only: kind = "gemini" or "vertex"',
        )
    if enabled and not files and not has_prefix:
        raise _Bad(
            "cache.enabled",
            "nothing to cache: add files, a [prompt] system instruction or a tools_file",
        )
    return CacheSpec(
        enabled=enabled,
        files=tuple(files),
        ttl_s=section.get("ttl_s", DEFAULT_CACHE_TTL_S),
        keep=section.get("keep", False),
    )
