"""Rows in, prompts out: streams JSONL/Parquet rows (`_source`), turns each row's media files into request parts
(`media`, with its own door: `pipeline.input.media`) and renders a row and its parts into a provider-neutral
prompt (`_prompt`).

Nothing here imports a transport or a provider: media uploads go through the `send` coroutine and the Files
API methods the caller hands in. This module does not import `media`, so a reader that needs only the rows
(the pilot's sample, the cluster's shards) never loads its MIME sniffing and probing.
"""

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
