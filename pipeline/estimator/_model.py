"""The `Estimate` value: what `pipeline estimate` computes and `_render` prints (apart, so neither imports the other)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("Estimate",)


@dataclass(frozen=True, slots=True)
class Estimate:
    """What `pipeline estimate` reports. Token and cost figures cover the valid rows only."""

    rows: int
    valid_rows: int
    # (line, id, reason) of the first MAX_INVALID_SHOWN invalid rows by line; `invalid_rows` counts them all
    invalid: list[tuple[int, str, str]]
    media_by_kind: dict[str, tuple[int, int]]  # kind -> (file references, bytes)
    input_tokens_by_modality: dict[str, int]  # text, image, audio, video, document
    input_tokens_exact: int | None  # from countTokens when asked
    output_tokens_low: int
    output_tokens_high: int  # summed over rows, thinking and image tokens included
    cost_low_usd: float | None
    cost_high_usd: float | None  # None when the model has no price
    price_note: str
    method_note: str
    job: str = ""
    model: str = ""
    # [cache]: whether caching the shared prefix pays for this job, the rows it takes to, and by how much
    cache_note: str | None = None
    cache_breakeven_rows: int | None = None
    cache_saving_usd: float | None = (
        None  # negative: caching costs more than it saves here
    )
    # The same rows through the Batch API (`mode = "batch"`): the batch price, cache hits at the cache rate.
    batch_cost_low_usd: float | None = None
    batch_cost_high_usd: float | None = None
    mode: str = "online"

    @property
    def invalid_rows(self) -> int:
        return self.rows - self.valid_rows

    @property
    def input_tokens(self) -> int:
        return sum(self.input_tokens_by_modality.values())
