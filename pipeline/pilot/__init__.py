"""`pipeline estimate JOB --pilot N`: a stratified sample of the job, run for real into its run directory, and
the whole job projected from it (cost with an interval, rates, wall time under the job's limits)."""

from __future__ import annotations

from ._pilot import (
    PilotPlan,
    PilotReport,
    plan_pilot,
    project_pilot,
    render_pilot,
    run_pilot,
)
from ._project import CostProjection, WallTime, project_cost, project_wall_time
from ._sample import Sample, Stratum, draw_sample

__all__ = (
    "CostProjection",
    "PilotPlan",
    "PilotReport",
    "Sample",
    "Stratum",
    "WallTime",
    "draw_sample",
    "plan_pilot",
    "project_cost",
    "project_pilot",
    "project_wall_time",
    "render_pilot",
    "run_pilot",
)
