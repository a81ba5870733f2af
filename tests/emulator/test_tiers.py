"""The served-tier hook that tier selection (Flex, Priority) extends."""

from __future__ import annotations

from pipeline.emulator import tiers


def test_every_request_is_served_standard_for_now() -> None:
    assert tiers.served_tier({"contents": []}, {}) == "standard"


def test_vertex_traffic_types() -> None:
    assert tiers.traffic_type("standard") == "ON_DEMAND"
    assert tiers.traffic_type("flex") == "ON_DEMAND_FLEX"
    assert tiers.traffic_type("priority") == "ON_DEMAND_PRIORITY"
