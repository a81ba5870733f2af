"""A row and the spec -> the provider-neutral `Prompt` that every attempt of that row sends.

No I/O: media bytes are resolved by `media.py` and handed in as `Part`s with their token estimate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from pipeline.errors import RowInvalid
from pipeline.records import Part, Prompt, Row
from pipeline.spec import JobSpec, apply_row_overrides, parse_template


def estimate_text_tokens(text: str) -> int:
    """ceil(len(text) / 4): a rough count made before sending, corrected from the reported usage.

    The emulator counts the same way, so estimates and its bills agree in tests.
    """
    return math.ceil(len(text) / 4)


def render_template(template: str, fields: Mapping[str, Any]) -> str:
    """`template` with each `{field}` replaced by the row's value; raises RowInvalid for a missing field.

    Strings go in as they are; numbers, booleans, null, lists and objects as JSON (`true`, not `True`).
    """
    out: list[str] = []
    for literal, name in _pieces(template):
        out.append(literal)
        if name is None:
            continue
        if name not in fields:
            raise RowInvalid(f"template field {name!r} missing")
        value = fields[name]
        if isinstance(value, str):
            out.append(value)
        else:
            out.append(json.dumps(value, ensure_ascii=False, default=str))
    return "".join(out)


@lru_cache(maxsize=8)
def _pieces(template: str) -> tuple[tuple[str, str | None], ...]:
    return parse_template(
        template
    )  # checked by load_spec, so this does not raise for a loaded spec


def build_prompt(
    row: Row, spec: JobSpec, media_parts: Sequence[Part] = (), *, media_tokens: int = 0
) -> Prompt:
    """The request content for `row`: media parts first, then the text.

    The row's `system` wins over the spec's, and its `generation` object is laid over `[generation]`
    (already validated by the source, so this does not raise for rows it produced).
    `media_tokens` is the hook for media: the caller that resolved `media_parts` knows their pixels,
    pages and seconds, and adds its estimate here; the text parts are estimated by this module.
    An empty text after media is left out: the API refuses empty text parts.
    """
    model = spec.provider.model
    generation = spec.generation
    if row.generation:
        generation = apply_row_overrides(generation, row.generation, model)
    system = row.system if row.system is not None else spec.prompt.system
    parts = tuple(media_parts)
    if row.prompt or not parts:
        parts += (Part(text=row.prompt),)
    estimate = media_tokens + estimate_text_tokens(row.prompt)
    if system:
        estimate += estimate_text_tokens(system)
    return Prompt(
        row_id=row.id,
        model=model,
        parts=parts,
        generation=generation,
        system=system,
        estimated_input_tokens=estimate,
    )
