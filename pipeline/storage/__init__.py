"""Where files live: a local path or an object-store URL (s3://, gs://, anything pyarrow.fs or fsspec resolves).

One small abstraction, `Location`, so that the input, the media, the results and the journal checkpoints can be
read and written the same way on a laptop and in a bucket: streamed reads (random access where the format needs
it), streamed writes, listing, existence, uploads and downloads, and the local cache directory a remote run
directory is worked in. Credentials are found as the official SDKs find them (AWS_* variables, including
AWS_ENDPOINT_URL for S3-compatible stores; Application Default Credentials for GCS).
"""

from __future__ import annotations

from ._location import (
    FileInfo,
    Location,
    Where,
    cache_dir_for,
    cache_root,
    is_url,
    location,
)

__all__ = (
    "FileInfo",
    "Location",
    "Where",
    "cache_dir_for",
    "cache_root",
    "is_url",
    "location",
)
