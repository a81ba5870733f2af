"""`pipeline models`: the catalog as a table (or JSON), and, with credentials, the provider's own list beside it.

The catalog needs no network. The provider's list is one GET (`/v1beta/models` on the Gemini API, paged;
`{base_url}/models` on an OpenAI-compatible endpoint) through the run's transport; Vertex's publisher list is not
fetched. Ids that one side has and the other has not are marked: "served, not in catalog" (a model newer than
the catalog, or one the catalog does not track) and "not served" (a catalog id the provider did not list).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import anyio

from pipeline.catalog import CATALOG_AS_OF, catalog_listing
from pipeline.providers import make_provider, resolve_credentials
from pipeline.transport import HttpTransport

__all__ = ("ModelsQuery", "fetch_served", "has_credentials", "listing", "render_models")

MAX_PAGES = 20
_KEY_NAMES = {
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai": ("OPENAI_API_KEY",),
}


@dataclass(frozen=True, slots=True)
class ModelsQuery:
    """What `fetch_served` needs: the provider kind, where it answers, and the variable holding the key."""

    kind: str
    model: str = ""
    base_url: str | None = None
    api_key_env: str | None = None
    token_env: str | None = None
    project: str | None = None
    location: str = "global"
    quota_project: str | None = None
    image_endpoint: str = "chat"


def has_credentials(
    kind: str, environ: Mapping[str, str], api_key_env: str | None
) -> bool:
    """Whether the provider's key variable is set (the list is fetched only then, or with --emulator)."""
    names = (api_key_env,) if api_key_env else _KEY_NAMES.get(kind, ())
    return any(environ.get(name, "").strip() for name in names)


def fetch_served(query: ModelsQuery, environ: Mapping[str, str]) -> list[str]:
    """The provider's own model ids, every page. Raises `CredentialsError` for a missing or refused key and
    `AttemptError` when the list cannot be had."""
    credentials = resolve_credentials(query, environ)
    provider = make_provider(query, credentials)

    async def main() -> list[str]:
        names: list[str] = []
        async with HttpTransport(concurrency=1) as transport:
            token: str | None = None
            for _ in range(MAX_PAGES):
                response = await transport.send(provider.build_list_models(token))
                page, token = provider.parse_list_models(response)
                names.extend(page)
                if token is None:
                    break
        return names

    return anyio.run(main)


def listing(provider: str, served: list[str] | None, *, on: date) -> dict[str, Any]:
    """The JSON document `pipeline models --json` prints."""
    rows = catalog_listing(provider, on=on)
    known = {row["id"] for row in rows}
    served_set = set(served) if served is not None else None
    for row in rows:
        row["served"] = None if served_set is None else row["id"] in served_set
    return {
        "provider": provider,
        "on": on.isoformat(),
        "catalog_as_of": CATALOG_AS_OF.isoformat(),
        "models": rows,
        "served_not_in_catalog": None
        if served is None
        else sorted(set(served) - known),
    }


def render_models(document: Mapping[str, Any], *, as_json: bool) -> str:
    """`listing`'s document as JSON, or as a plain table: current ids first, then the retired ones."""
    if as_json:
        return json.dumps(document, indent=2)
    rows = document["models"]
    served = document["served_not_in_catalog"]
    head = (
        f"{document['provider']} models on {document['on']} (catalog as of {document['catalog_as_of']}); "
        "USD per 1M tokens: standard in/out, Batch in/out, Flex in/out"
    )
    table = [("id", "kind", "lifecycle", "in", "out", "batch", "flex", "notes")]
    order = {"current": 0, "preview": 1, "deprecated": 2, "shut down": 3}
    for row in sorted(rows, key=lambda r: (order.get(r["status"], 4), r["id"])):
        table.append(
            (
                row["id"],
                row["kind"],
                _lifecycle(row),
                _usd(row["input"]),
                _usd(row["output"]),
                f"{_usd(row['batch_input'])}/{_usd(row['batch_output'])}",
                f"{_usd(row['flex_input'])}/{_usd(row['flex_output'])}",
                _notes(row),
            )
        )
    for name in served or ():
        table.append((name, "", "served, not in catalog", "", "", "", "", ""))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    lines = [head]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        lines.append("  ".join([*cells, line[-1]]).rstrip())
    if served is None:
        lines.append(
            "(the provider's own list was not fetched: set its key variable, or use --emulator)"
        )
    return "\n".join(lines)


def _lifecycle(row: Mapping[str, Any]) -> str:
    status = str(row["status"])
    if row["routed_to"]:
        return f"deprecated, routed to {row['routed_to']}"
    if row["shutdown"] and status == "shut down":
        return f"shut down {row['shutdown']}" + (
            f" -> {row['replacement']}" if row["replacement"] else ""
        )
    if row["shutdown"]:
        return f"{status}, shuts down {row['shutdown']}" + (
            f" -> {row['replacement']}" if row["replacement"] else ""
        )
    if status == "deprecated" and row["replacement"]:
        return f"deprecated -> {row['replacement']}"
    return status


def _notes(row: Mapping[str, Any]) -> str:
    notes = []
    if row["served"] is False and row["status"] != "shut down":
        notes.append("not served")
    if row["served"] is True and row["status"] == "shut down":
        notes.append("still served")
    if row["routed_to"]:
        notes.append(f"billed as {row['routed_to']}")
    if row["image_1k_usd"] is not None:
        notes.append(f"${row['image_1k_usd']:.4f} per 1K image")
    if row["input_audio"] is not None:
        notes.append(f"audio in {_usd(row['input_audio'])}")
    if row["input"] is None and row["status"] != "shut down":
        notes.append("no built-in price: use [pricing]")
    return "; ".join(notes)


def _usd(value: float | None) -> str:
    """Dollars with at least two decimals and no rounding of the published figures (1.875, 0.0375)."""
    if value is None:
        return "-"
    text = f"{value:.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"
