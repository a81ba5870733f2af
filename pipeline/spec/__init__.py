"""TOML, or a mapping of the same shape, -> a validated JobSpec; the only tomllib user.

Errors name the file, the key and what was expected.
"""

from __future__ import annotations

from ._cache import CacheSpec
from ._deadline import Deadline
from ._load import (
    BatchSpec,
    InputShard,
    InputSpec,
    JobSpec,
    MediaSpec,
    apply_row_overrides,
    load_spec,
    parse_spec,
    parse_template,
)

__all__ = (
    "BatchSpec",
    "CacheSpec",
    "Deadline",
    "InputShard",
    "InputSpec",
    "JobSpec",
    "MediaSpec",
    "apply_row_overrides",
    "load_spec",
    "parse_spec",
    "parse_template",
)
