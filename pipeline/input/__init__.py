"""Rows in, prompts out: streams JSONL/Parquet rows and renders them into provider-neutral prompts. No network."""

from __future__ import annotations

from ._prompt import build_prompt, estimate_text_tokens
from ._source import count_rows, iter_rows, plan_shards

__all__ = (
    "build_prompt",
    "count_rows",
    "estimate_text_tokens",
    "iter_rows",
    "plan_shards",
)
