"""Model lifecycle: which ids each front door serves on a given day, which it routes to a newer model,
and which it has shut down.

From the reference (2026-12, section 1; dates are Google's "earliest possible" shutdown dates):

- A shut-down id answers 404 NOT_FOUND on Google's doors, with the same body as an unknown id.
- A deprecated id may instead be *routed*: 200 OK, generated (and billed) by the newer model, whose
  id the reply names in `modelVersion`. `gemini-3.7-flash` goes to `gemini-3.8-flash`,
  `gemini-3.5-flash` to `gemini-3.6-flash`; on the Gemini API (not Vertex) from 2026-12-01
  `gemini-2.5-pro` goes to `gemini-3.8-flash` and `gemini-2.5-flash` to `gemini-3.5-flash-lite`.
- Vertex (Agent Platform) has shut down all general-use Gemini 2.5 models.
- Aggregators resell old ids under their own names, so the aggregator door (`/v1/`) serves every id
  of the model table, retired ones included; retirement applies to Google's doors only (Gemini
  v1beta/v1/v1alpha, Vertex and `/v1beta/openai/`).

The day is `lifecycle_date` (YYYY-MM-DD) when configured, else today in America/Los_Angeles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from .models import MODELS, ModelInfo

__all__ = ("ROUTED", "SHUT_DOWN", "resolve", "served_models", "today")

PACIFIC = ZoneInfo("America/Los_Angeles")

SERVED = "served"
ROUTED = "routed"
SHUT_DOWN = "shut_down"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Shutdown:
    """From `day` on, Google's doors answer 404 for the id (Vertex from `vertex_day` when it differs)."""

    day: date
    replacement: str | None = None
    vertex_day: date | None = None

    def on(self, vertex: bool) -> date:
        return self.vertex_day if vertex and self.vertex_day else self.day


@dataclass(frozen=True, slots=True)
class Route:
    """From `day` on, requests for the id are served by `target` (on Vertex only when `vertex`)."""

    day: date
    target: str
    vertex: bool = True


def _d(text: str) -> date:
    return date.fromisoformat(text)


SHUTDOWNS: dict[str, Shutdown] = {
    "gemini-2.5-pro-preview-03-25": Shutdown(_d("2025-12-02"), "gemini-3.1-pro-preview"),
    "gemini-2.5-pro-preview-05-06": Shutdown(_d("2025-12-02"), "gemini-3.1-pro-preview"),
    "gemini-2.5-pro-preview-06-05": Shutdown(_d("2025-12-02"), "gemini-3.1-pro-preview"),
    "gemini-3-pro-preview": Shutdown(_d("2026-03-09"), "gemini-3.1-pro-preview"),
    "gemini-3.1-flash-lite-preview": Shutdown(_d("2026-05-25"), "gemini-3.1-flash-lite"),
    "gemini-2.0-flash": Shutdown(_d("2026-06-01"), "gemini-3.6-flash"),
    "gemini-2.0-flash-001": Shutdown(_d("2026-06-01"), "gemini-3.6-flash"),
    "gemini-2.0-flash-lite": Shutdown(_d("2026-06-01"), "gemini-3.1-flash-lite"),
    "gemini-2.0-flash-lite-001": Shutdown(_d("2026-06-01"), "gemini-3.1-flash-lite"),
    # Vertex's own dates for the preview image ids ("update before July 19, 2026").
    "gemini-3-pro-image-preview": Shutdown(_d("2026-06-25"), "gemini-3-pro-image", _d("2026-07-19")),
    "gemini-3.1-flash-image-preview": Shutdown(_d("2026-06-25"), "gemini-3.1-flash-image", _d("2026-07-19")),
    "gemini-omni-flash-preview": Shutdown(_d("2026-09-30"), "gemini-omni-1.1-flash"),
    "gemini-2.5-flash-image": Shutdown(_d("2026-10-02"), "gemini-3.1-flash-image"),
    "gemini-3.1-flash-lite": Shutdown(_d("2027-05-07"), "gemini-3.5-flash-lite"),
}  # fmt: skip
_IMAGEN_4 = ("imagen-4.0-", Shutdown(_d("2026-08-17"), "gemini-3.1-flash-image"))
# Vertex only. The shutdown day is not published: banners said "October 2026", and on 2026-11-17
# "all general-use Gemini 2.5 models have shut down"; the emulator takes 2026-11-01.
VERTEX_SHUTDOWNS: dict[str, Shutdown] = {
    name: Shutdown(_d("2026-11-01"), replacement)
    for name, replacement in (
        ("gemini-2.5-pro", "gemini-3.1-pro-preview"),
        ("gemini-2.5-flash", "gemini-3.6-flash"),
        ("gemini-2.5-flash-lite", "gemini-3.5-flash-lite"),
    )
}
# The start of the 3.5 Flash routing is not published; the emulator takes 3.6 Flash's GA day.
ROUTES: dict[str, Route] = {
    "gemini-3.5-flash": Route(_d("2026-07-21"), "gemini-3.6-flash"),
    "gemini-3.7-flash": Route(_d("2026-10-08"), "gemini-3.8-flash"),
    "gemini-2.5-pro": Route(_d("2026-12-01"), "gemini-3.8-flash", vertex=False),
    "gemini-2.5-flash": Route(_d("2026-12-01"), "gemini-3.5-flash-lite", vertex=False),
}


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a door does with a model id: `model` answers (None: 404), and why."""

    model: ModelInfo | None
    state: str  # SERVED | ROUTED | SHUT_DOWN | UNKNOWN
    replacement: str | None = None


def today(lifecycle_date: str | None) -> date:
    """The day the lifecycle is evaluated on: the configured one, else today in Pacific time."""
    if lifecycle_date:
        return date.fromisoformat(lifecycle_date)
    return datetime.now(PACIFIC).date()


def shutdown_of(name: str, vertex: bool) -> Shutdown | None:
    if vertex and name in VERTEX_SHUTDOWNS:
        return VERTEX_SHUTDOWNS[name]
    found = SHUTDOWNS.get(name)
    if found is None and name.startswith(_IMAGEN_4[0]):
        found = _IMAGEN_4[1]
    return found


def resolve(name: str, door: str, day: date) -> Resolution:
    """The model answering `name` on `door` ("gemini", "vertex", "google-openai" or "openai", the
    aggregator) on `day`."""
    name = name.removeprefix("models/")
    vertex = door == "vertex"
    if door != "openai":
        shutdown = shutdown_of(name, vertex)
        if shutdown is not None and day >= shutdown.on(vertex):
            return Resolution(None, SHUT_DOWN, shutdown.replacement)
    elif name in MODELS:  # an aggregator keeps selling the ids it listed
        return Resolution(MODELS[name], SERVED)
    route = ROUTES.get(name)
    if route is not None and day >= route.day and (route.vertex or not vertex):
        return Resolution(MODELS[route.target], ROUTED)
    model = MODELS.get(name)
    return Resolution(model, SERVED if model is not None else UNKNOWN)


def served_models(door: str, day: date) -> list[ModelInfo]:
    """The ids a door lists (GET models): those it serves as themselves on `day`."""
    return [m for m in MODELS.values() if resolve(m.id, door, day).state == SERVED]
