"""Fast JSON when orjson is installed (it roughly halves the per-request cost), else the stdlib."""

from __future__ import annotations

import json
from typing import Any

__all__ = ("dumps", "loads")

try:
    import orjson

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

    def loads(data: bytes) -> Any:
        return orjson.loads(data)

except ImportError:  # pragma: no cover - depends on the environment

    def dumps(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

    def loads(data: bytes) -> Any:
        return json.loads(data)
