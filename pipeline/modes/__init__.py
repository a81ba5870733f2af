"""The ways a job runs besides one online session in a local directory (`pipeline.engine`), each its own door.

- `batch`: `mode = "batch"` (`pipeline run --mode batch`), the same job through the provider's Batch API;
- `remote`: a run directory in object storage (s3://, gs://), worked in a local cache and checkpointed to it;
- `cluster`: `pipeline run --ray`, the input split into shards run by the engine in Ray workers under one quota
  (a shard whose directory is a URL runs through `remote`).

They sit above `engine`, whose assembly and finalize step they reuse. `pipeline.api` chooses between the engine,
`batch` and `remote`; only `--ray` imports `cluster` (and so Ray). This module imports none of them.
"""

from __future__ import annotations

__all__: tuple[str, ...] = ()
