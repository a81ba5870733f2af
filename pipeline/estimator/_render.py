"""An `Estimate` as the plain text `pipeline estimate` prints, and the notes that say where its figures
come from: which prices (dated), and how the tokens were estimated."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pipeline.catalog import Price, model_info

from ._rows import TYPICAL_TEXT_TOKENS

if TYPE_CHECKING:
    from ._model import Estimate

__all__ = ("format_bytes", "format_usd", "method_note", "price_note", "render")

_LABEL = 15
_WIDTH = 100


_INPUT_RULES = {
    "image": "images 1,120 tokens each (560 at medium, 280 at low media resolution)",
    "document": "PDFs 560 per page",
    "audio": "audio 32 per second",
    "video": "video 70 per second (280 at high media resolution) plus 32 per second of sound",
}


def method_note(
    tokens: Mapping[str, int], image_rows: int, model: str | None = None
) -> str:
    """How the figures were made, naming only the rules that this job's rows used."""
    rules = ["text (prompt, system, text files, function declarations) characters / 4"]
    rules += [rule for modality, rule in _INPUT_RULES.items() if tokens.get(modality)]
    images = " and one image per row" if image_rows else ""
    image_sizes = (
        f", plus one image at its size's image tokens ({_image_table(model)})"
        if image_rows
        else ""
    )
    return (
        "Input tokens are estimated locally, as the emulator counts them (a real tokenizer differs): "
        f"{'; '.join(rules)}. Output, low end: a typical reply of {TYPICAL_TEXT_TOKENS} text tokens plus "
        f"thinking at the low end of its level (minimal 0, low 128, medium 512, high 1,024){images}. "
        "High end: max_output_tokens (the row's or the spec's, else the model's output limit) on every row, "
        f"thinking included{image_sizes}."
    )


def _image_table(model: str | None) -> str:
    info = model_info(model) if model else None
    if info is None or not info.image_tokens:
        return "the largest figure of the catalog's image models for a model it does not know"
    sizes = ", ".join(
        f"{count:,} for {size}" for size, count in info.image_tokens.items()
    )
    return f"{info.id}: {sizes}"


def price_note(
    model: str, price: Price | None, *, overridden: bool, budget: bool = False
) -> str:
    """Which prices the costs use, where they come from and as of when; or why there is no cost."""
    if price is None:
        refused = " (a run refuses budget_usd until it does)" if budget else ""
        return (
            f"no price is known for model {model!r}, so no cost is estimated; add a [pricing] table with "
            f"input_per_million and output_per_million to the job spec{refused}"
        )
    dated = f" as of {price.as_of}" if price.as_of is not None else ""
    scheduled = (
        f", valid through {price.valid_until}" if price.valid_until is not None else ""
    )
    if not overridden:
        source = f"the built-in price table{dated}{scheduled} ({price.source})"
    else:
        source = price.source + dated
    rates = (
        f"input ${price.input:.2f}/M, output ${price.output:.2f}/M (thinking included)"
    )
    if price.input_audio is not None:
        rates += f", audio input ${price.input_audio:.2f}/M"
    if price.cached_input is not None:
        rates += f", cached input ${price.cached_input:.3f}/M"
    if price.input_long is not None or price.output_long is not None:
        rates += (
            f", above 200k prompt tokens input ${price.input_long or price.input:.2f}/M, "
            f"output ${price.output_long or price.output:.2f}/M"
        )
    if price.image_output is not None:
        rates += f", image output ${price.image_output:.2f}/M"
    if price.per_image is not None:
        rates += f", ${price.per_image:.4f} per image"
    return f"USD, {source} for {model}: {rates}"


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
    out.extend(_wrapped("media", media or "none"))
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
        online = f"{format_usd(estimate.cost_low_usd)} to {format_usd(estimate.cost_high_usd)}"
        batch = None
        if (
            estimate.batch_cost_low_usd is not None
            and estimate.batch_cost_high_usd is not None
        ):
            batch = (
                f"{format_usd(estimate.batch_cost_low_usd)} to "
                f"{format_usd(estimate.batch_cost_high_usd)}"
            )
        if batch is None:
            out.append(_line("cost", online))
        else:
            chosen = "batch" if estimate.mode == "batch" else "online"
            out.append(_line("cost", f"{online} online"))
            out.append(_line("", f"{batch} in batch mode (the Batch API's price)"))
            out.append(_line("", f"this job runs {chosen} (mode, or run --mode)"))
    if estimate.cache_note is not None:
        out.extend(_wrapped("cache", estimate.cache_note))
    out.extend(_wrapped("prices", estimate.price_note))
    out.extend(_wrapped("method", estimate.method_note))
    return "\n".join(out)
