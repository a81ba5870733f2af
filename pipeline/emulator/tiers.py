"""The service tier a reply reports: `usageMetadata.serviceTier` and the `x-gemini-service-tier` header
on the Gemini API, `usageMetadata.trafficType` on Vertex.

The Gemini API writes the served tier in lower case (`standard`, `flex`, `priority`; the enum also has
`unspecified`), and Priority requests over their limit are silently served (and reported) as
`standard`. Vertex reports `trafficType` instead: `ON_DEMAND`, `ON_DEMAND_FLEX`, `ON_DEMAND_PRIORITY`,
`PROVISIONED_THROUGHPUT`. For now every request is served on the standard tier; tier selection
(Flex, Priority) extends `served_tier` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STANDARD = "standard"
TIER_HEADER = "x-gemini-service-tier"

_TRAFFIC_TYPES = {
    "standard": "ON_DEMAND",
    "flex": "ON_DEMAND_FLEX",
    "priority": "ON_DEMAND_PRIORITY",
}


def served_tier(request_body: Any, headers: Mapping[str, str]) -> str:
    """The tier that serves this request, as the reply writes it (lower case)."""
    return STANDARD


def traffic_type(tier: str) -> str:
    """Vertex's `usageMetadata.trafficType` for a served tier."""
    return _TRAFFIC_TYPES.get(tier, "ON_DEMAND")
