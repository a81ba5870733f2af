"""An `Estimate` as the plain text `pipeline estimate` prints: one labelled line per figure, notes wrapped."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.estimate import Estimate

__all__ = ("format_bytes", "format_usd", "render")

_LABEL = 15
_WIDTH = 100


def format_usd(value: float) -> str:
    """Cents are too coarse for small jobs: four decimals under a dollar."""
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def format_bytes(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size:,} B"


def _line(label: str, text: str) -> str:
    return f"{label:<{_LABEL}}{text}"


def _wrapped(label: str, text: str) -> list[str]:
    lines = textwrap.wrap(text, _WIDTH - _LABEL) or [""]
    return [_line(label if i == 0 else "", line) for i, line in enumerate(lines)]


def render(estimate: Estimate) -> str:
    sent = (
        "only countTokens requests were sent"
        if estimate.input_tokens_exact is not None
        else "nothing was sent"
    )
    out = [f"estimate for {estimate.job} ({estimate.model}); {sent}"]
    out.append(
        _line(
            "rows",
            f"{estimate.rows:,} ({estimate.valid_rows:,} valid, {estimate.invalid_rows:,} invalid)",
        )
    )
    if estimate.invalid:
        shown = len(estimate.invalid)
        more = (
            f" (the first {shown} of {estimate.invalid_rows:,})"
            if shown < estimate.invalid_rows
            else ""
        )
        out.append(_line("invalid rows", f"line, id, reason{more}"))
        for line, row_id, reason in estimate.invalid:
            out.extend(_wrapped("", f"line {line}, {row_id}: {reason}"))
    media = "; ".join(
        f"{kind} {files:,} file{'s' if files != 1 else ''}, {format_bytes(size)}"
        for kind, (files, size) in estimate.media_by_kind.items()
    )
    out.append(_line("media", media or "none"))
    modalities = ", ".join(
        f"{modality} {count:,}"
        for modality, count in estimate.input_tokens_by_modality.items()
        if count
    )
    out.append(
        _line(
            "input tokens",
            f"{estimate.input_tokens:,} estimated ({modalities or 'none'})",
        )
    )
    if estimate.input_tokens_exact is not None:
        out.append(_line("", f"{estimate.input_tokens_exact:,} counted by countTokens"))
    out.append(
        _line(
            "output tokens",
            f"{estimate.output_tokens_low:,} (typical) to {estimate.output_tokens_high:,} "
            "(max_output_tokens on every row), thinking included",
        )
    )
    if estimate.cost_low_usd is None or estimate.cost_high_usd is None:
        out.append(_line("cost", "unknown: no price for this model (see prices)"))
    else:
        out.append(
            _line(
                "cost",
                f"{format_usd(estimate.cost_low_usd)} to {format_usd(estimate.cost_high_usd)}",
            )
        )
    out.extend(_wrapped("prices", estimate.price_note))
    out.extend(_wrapped("method", estimate.method_note))
    return "\n".join(out)
