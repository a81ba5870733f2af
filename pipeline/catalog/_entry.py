"""The records of the catalog: one `ModelInfo` per model id, with its `Lifecycle` on each of Google's doors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from ._price import Price

__all__ = ("Kind", "Lifecycle", "ModelInfo", "Stage", "Status")

Kind = Literal["text", "image", "video"]
Stage = Literal["ga", "preview"]
# What a model id is on a given day: "current" (GA, served), "preview" (served, may change or go), "deprecated"
# (served, or routed to another model, with a replacement to move to), "shut down" (404 NOT_FOUND).
Status = Literal["current", "preview", "deprecated", "shut down"]


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """A model id's life on one door (the Gemini API, or Vertex AI).

    `shutdown` is the day Google turns the id off (a past day: it answers 404); with `shutdown_exact` False
    the day is only a "by" date (Google said it had shut down without saying when). `routed_to` names the
    model that Google serves a deprecated id's requests with, from `routed_from` on (200 OK, that model's output,
    billed at its rates). `replacement` is the id Google recommends, as printed (it may itself be gone: see
    `catalog.model_status`, which follows the chain). `source` names the pages the facts come from.
    """

    stage: Stage = "ga"
    released: date | None = None
    deprecated: date | None = None
    shutdown: date | None = None
    shutdown_exact: bool = True
    replacement: str | None = None
    routed_to: str | None = None
    routed_from: date | None = None
    source: str = ""

    def status(self, day: date) -> Status:
        if self.shutdown is not None and self.shutdown <= day:
            return "shut down"
        if (self.deprecated is not None and self.deprecated <= day) or self.routed_on(
            day
        ):
            return "deprecated"
        return "preview" if self.stage == "preview" else "current"

    def routed_on(self, day: date) -> bool:
        return self.routed_to is not None and (
            self.routed_from is None or self.routed_from <= day
        )


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Every fact the pipeline uses about one model id.

    `thinking_levels` is empty when the model takes no level (the image models always think;
    `typical_thinking` is what such a model spends on an ordinary request). `image_sizes`, `aspect_ratios`
    and `image_tokens` (output tokens of one generated image, by size) are empty when it outputs no images.
    `min_cache_tokens` is the smallest prompt the context cache takes (None: not published);
    `explicit_cache` False when only implicit caching is offered. `lifecycle` is the Gemini API's; `vertex`
    Vertex AI's when it differs (None: the same). `prices` are the Gemini Developer API's paid-tier prices,
    one per scheduled step, oldest first. `doors` are the provider kinds that serve the id under this name;
    `alias_of` names the model an aggregator's alias stands for. `flex` / `priority` say whether the Gemini
    API offers the Flex / Priority tier for the model (None: its pages do not say).
    """

    id: str
    kind: Kind
    name: str
    input_token_limit: int
    output_token_limit: int
    thinking_levels: tuple[str, ...] = ()
    default_thinking_level: str | None = None
    max_input_images: int = 3600
    image_sizes: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    image_tokens: Mapping[str, int] = field(default_factory=dict)
    typical_thinking: int = 0
    min_cache_tokens: int | None = None
    explicit_cache: bool | None = True
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    vertex: Lifecycle | None = None
    prices: tuple[Price, ...] = ()
    doors: tuple[str, ...] = ("gemini", "vertex")
    alias_of: str | None = None
    flex: bool | None = None
    priority: bool | None = None
    notes: str = ""

    @property
    def image_output(self) -> bool:
        return self.kind == "image"

    def lifecycle_on(self, provider: str) -> Lifecycle:
        """The lifecycle on `provider` ("gemini", "vertex"; any other kind gets the Gemini API's)."""
        if provider == "vertex" and self.vertex is not None:
            return self.vertex
        return self.lifecycle
