"""Lookups in the catalog: a model's facts, its lifecycle on a door, and the settings it takes.

The spec checks settings against these facts before anything is sent, so a typo such as
`thinking_level = "minimal"` on a model without it fails at once instead of as a 400 on every row. Unknown
names return None: new models appear monthly, and aggregators sell models under their own names; for those the
server is the judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from pipeline.records import GenerationSettings

from ._entry import ModelInfo, Status
from ._table import MODELS

__all__ = (
    "CATALOG_AS_OF",
    "DEFAULT_OUTPUT_LIMIT",
    "LifecycleNotice",
    "ModelStatus",
    "catalog",
    "check_generation",
    "image_tokens",
    "is_image_model",
    "known_models",
    "lifecycle_notice",
    "max_image_tokens",
    "max_input_images",
    "model_info",
    "model_status",
    "resolve_model",
    "today",
)

# The newest fact in the catalog (Gemini 4 Neon's launch): an id it does not know may be newer than this.
CATALOG_AS_OF = date(2026, 11, 18)
# The output cap assumed for a model we do not know (an aggregator's own name): the largest per request.
DEFAULT_OUTPUT_LIMIT = 65_536

_BY_ID = {info.id: info for info in MODELS}
_GOOGLE_DOORS = ("gemini", "vertex")


def today() -> date:
    """Today in UTC: the day that picks scheduled prices and lifecycle stages when none is given."""
    return datetime.now(UTC).date()


def model_info(model: str) -> ModelInfo | None:
    """The catalog entry for `model` (a leading "models/" is ignored); None for names we do not know."""
    return _BY_ID.get(model.removeprefix("models/"))


def resolve_model(model: str) -> ModelInfo | None:
    """`model_info`, else the entry of the name's last path segment: an aggregator's "google/gemini-3-pro-image"
    is Google's model under a vendor prefix. For facts that do not depend on who serves the name (is it an image
    model, how many tokens an image costs); settings on an aggregator's name are left to its server."""
    info = model_info(model)
    if info is None and "/" in model:
        info = model_info(model.rsplit("/", 1)[-1])
    return info


def known_models() -> tuple[str, ...]:
    """Every model id in the catalog, for "did you mean" hints."""
    return tuple(_BY_ID)


def catalog(provider: str | None = None) -> tuple[ModelInfo, ...]:
    """The catalog's entries, current models first; with `provider` ("gemini", "vertex", "openai") only the ids
    served under that name there (an aggregator keeps Google's names, so "openai" lists them all)."""
    if provider in (None, "openai"):
        return MODELS
    return tuple(info for info in MODELS if provider in info.doors)


# --- the one rule for image models ----------------------------------------------------------------------------


def is_image_model(model: str) -> bool:
    """An image-output model by the catalog; a name it does not know (an aggregator's "acme/...-image-preview")
    counts when it says "-image", as Google's image model ids all do."""
    info = resolve_model(model)
    if info is not None:
        return info.kind == "image"
    return "-image" in model.rsplit("/", 1)[-1]


def _current_image_models() -> tuple[ModelInfo, ...]:
    return tuple(
        info
        for info in MODELS
        if info.kind == "image"
        and info.image_tokens
        and info.lifecycle.shutdown is None
    )


def image_tokens(model: str, size: str | None) -> int:
    """The output tokens one generated image of `size` (default "1K") costs on `model`; a size the model does
    not list costs its largest. A model the catalog does not know gets the largest figure of the current image
    models at that size, so its cost is not understated."""
    size = size or "1K"
    info = resolve_model(model)
    if info is not None and info.image_tokens:
        return info.image_tokens.get(size, max(info.image_tokens.values()))
    return max(
        info.image_tokens.get(size, max(info.image_tokens.values()))
        for info in _current_image_models()
    )


def max_image_tokens(model: str | None = None) -> int:
    """The most output tokens one generated image can cost on `model` (any current image model when None or
    unknown): what a budget reserves per image."""
    info = resolve_model(model) if model is not None else None
    if info is not None and info.image_tokens:
        return max(info.image_tokens.values())
    return max(max(info.image_tokens.values()) for info in _current_image_models())


def max_input_images(model: str) -> int | None:
    """The most input images `model` takes in one request; for a name the catalog does not know, the image
    models' cap when it names an image model, else None (the provider's own limit applies)."""
    info = resolve_model(model)
    if info is not None:
        return info.max_input_images
    if is_image_model(model):
        return min(info.max_input_images for info in _current_image_models())
    return None


# --- lifecycle ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What `model` is on `provider` on a given day. `replacement` is an id that is still served (the printed
    replacement, followed through ids that were shut down since); `routed_to` is set while Google answers the
    id's requests with another model."""

    model: str
    status: Status | Literal["unknown"]
    shutdown: date | None = None
    shutdown_exact: bool = True
    replacement: str | None = None
    routed_to: str | None = None
    routed_from: date | None = None
    deprecated: date | None = None


def model_status(
    model: str, provider: str = "gemini", *, on: date | None = None
) -> ModelStatus:
    """`model`'s lifecycle on `provider` ("gemini", "vertex"; others read the Gemini API's) on `on` (today)."""
    day = on or today()
    info = model_info(model) if provider in _GOOGLE_DOORS else resolve_model(model)
    if info is None:
        return ModelStatus(model, "unknown")
    life = info.lifecycle_on(provider)
    routed = life.routed_to if life.routed_on(day) else None
    # Vertex's notices seldom name a replacement: the Gemini API's is the same advice.
    printed = (
        life.replacement
        or life.routed_to
        or info.lifecycle.replacement
        or info.lifecycle.routed_to
    )
    return ModelStatus(
        info.id,
        life.status(day),
        life.shutdown,
        life.shutdown_exact,
        _usable(printed, provider, day),
        routed,
        life.routed_from if routed else None,
        life.deprecated,
    )


def _usable(model: str | None, provider: str, day: date) -> str | None:
    """`model`, or the first id in its chain of replacements that is neither shut down nor deprecated on `day`
    (a deprecated id without a replacement of its own is still served, so it ends the chain)."""
    seen: set[str] = set()
    while model is not None and model not in seen:
        seen.add(model)
        info = model_info(model)
        if info is None:
            return model
        life = info.lifecycle_on(provider)
        status = life.status(day)
        following = life.replacement or life.routed_to
        if status not in ("shut down", "deprecated") or (
            status == "deprecated" and following is None
        ):
            return model
        model = following
    return None


Reason = Literal["shut down", "deprecated", "scheduled", "unknown", "alias"]


@dataclass(frozen=True, slots=True)
class LifecycleNotice:
    """What the spec says about a model id: an `error` refuses the spec (a shut-down id on Google's own API),
    a `warning` is printed and the run goes on."""

    level: Literal["error", "warning"]
    reason: Reason
    message: str


def lifecycle_notice(
    model: str, provider: str, *, on: date | None = None
) -> LifecycleNotice | None:
    """What to tell a user who names `model` on `provider` on `on` (today); None when it is current or preview.

    On "gemini" and "vertex" a shut-down id is an error (it answers 404 NOT_FOUND); on "openai" an aggregator
    keeps its own names, so the same id is only a warning there. Deprecated, routed and scheduled-to-shut-down
    ids and ids the catalog does not know are warnings.
    """
    day = on or today()
    google = provider in _GOOGLE_DOORS
    status = model_status(model, provider, on=day)
    info = model_info(status.model)
    if status.status == "unknown" or info is None:
        return LifecycleNotice(
            "warning",
            "unknown",
            f"{model} is not in the model catalog (as of {CATALOG_AS_OF}); it is sent as written and its "
            "settings are not checked against the model's limits",
        )
    if google and provider not in info.doors:
        return LifecycleNotice(
            "warning",
            "alias",
            f"{model} is an aggregator's name, not one of Google's model ids; on Google's API use "
            f"{info.alias_of or 'a Google model id'}",
        )
    use = (
        f"use {status.replacement}"
        if status.replacement
        else "pick a current model (`pipeline models`)"
    )
    at_google = "" if google else " at Google"
    if status.status == "shut down":
        when = _shutdown(status)
        if google:
            return LifecycleNotice(
                "error", "shut down", f"{model} was shut down {when}; {use}"
            )
        return LifecycleNotice(
            "warning",
            "shut down",
            f"{model} was shut down at Google {when} ({use} there); an aggregator may still serve the name, at "
            "its own prices",
        )
    if status.routed_to is not None:
        since = f" since {status.routed_from}" if status.routed_from else ""
        return LifecycleNotice(
            "warning",
            "deprecated",
            f"{model} is deprecated{at_google}: {since.strip() or 'now'} Google answers its requests with "
            f"{status.routed_to} and bills them at that model's rates; {use}",
        )
    if status.status == "deprecated":
        since = f" since {status.deprecated}" if status.deprecated else ""
        later = (
            f" and shuts down {_shutdown(status)}"
            if status.shutdown is not None
            else " (no shutdown date announced)"
        )
        return LifecycleNotice(
            "warning",
            "deprecated",
            f"{model} is deprecated{at_google}{since}{later}; {use}",
        )
    if status.shutdown is not None:
        return LifecycleNotice(
            "warning",
            "scheduled",
            f"{model} is scheduled to shut down{at_google} on {status.shutdown} (the earliest date Google "
            f"gives); {use} before then",
        )
    return None


def _shutdown(status: ModelStatus) -> str:
    return f"on {status.shutdown}" if status.shutdown_exact else f"by {status.shutdown}"


# --- settings -------------------------------------------------------------------------------------------------


def check_generation(
    settings: GenerationSettings, model: str
) -> tuple[str, str] | None:
    """The first setting that `model` cannot take, as (key, what to do instead); None when all fit.

    Unknown models pass: their server is the judge. Keys are `[generation]` names.
    """
    info = model_info(model)
    if info is None:
        return None
    level = settings.thinking_level
    if level is not None and not info.thinking_levels:
        how = (
            "always thinks and takes no thinking level"
            if info.kind == "image"
            else "takes no thinking level"
        )
        return "thinking_level", f"{info.id} {how}; remove thinking_level"
    if level is not None and level not in info.thinking_levels:
        return (
            "thinking_level",
            f'expected one of {_listing(info.thinking_levels)} for {info.id}, got "{level}"',
        )
    limit = info.output_token_limit
    if settings.max_output_tokens is not None and settings.max_output_tokens > limit:
        return (
            "max_output_tokens",
            f"expected at most {limit} (the output limit of {info.id}), got {settings.max_output_tokens}",
        )
    image_keys = {
        "image_size": settings.image_size,
        "image_aspect_ratio": settings.image_aspect_ratio,
        "response_modalities": "IMAGE"
        if "IMAGE" in settings.response_modalities
        else None,
    }
    for key, value in image_keys.items():
        if value is not None and info.kind != "image":
            return key, (
                f"{info.id} cannot output images; remove {key} or use an image model such as gemini-3-pro-image"
            )
    if settings.image_size is not None and settings.image_size not in info.image_sizes:
        return (
            "image_size",
            f'expected one of {_listing(info.image_sizes)} for {info.id}, got "{settings.image_size}"',
        )
    ratio = settings.image_aspect_ratio
    if ratio is not None and ratio not in info.aspect_ratios:
        return (
            "image_aspect_ratio",
            f'expected one of {_listing(info.aspect_ratios)} for {info.id}, got "{ratio}"',
        )
    return None


def _listing(values: tuple[str, ...]) -> str:
    return ", ".join(f'"{value}"' for value in values)
