"""`pipeline run --ray`: the input split into shards, each run by today's engine in a Ray worker, under one quota.

Only `--ray` imports this package (it imports Ray); a run without it never loads Ray. See `_driver` for the
run, `_actor` for the quota actor that serves `pipeline.policy`'s lease protocol, `_compact` for the results.
"""

from __future__ import annotations

from ._driver import (
    PLAN_NAME,
    SHARDS_DIR,
    load_or_plan,
    quota_actor_name,
    run_cluster,
)

__all__ = (
    "PLAN_NAME",
    "SHARDS_DIR",
    "load_or_plan",
    "quota_actor_name",
    "run_cluster",
)
