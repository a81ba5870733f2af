"""Which rows a pilot sends: a stratified sample, by prompt length and media kind, the same for the same seed.

Every row of the job is read once (ids and the two strata keys only, so memory stays small). Length strata are
the job's own quartiles of prompt length; media strata are the kinds a row attaches (none, image, audio,
video, document, other; a row with several kinds is stratified by the set). The sample size of a stratum is
proportional to its rows (largest remainder), with one row at least in every stratum while the sample allows;
inside a stratum the rows taken are those with the smallest hash of (seed, id): deterministic, independent of
the input's order, and spread over the whole file.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.input import iter_rows
from pipeline.records import Row
from pipeline.spec import JobSpec

__all__ = ("Sample", "Stratum", "draw_sample", "media_kind")

LENGTH_STRATA = 4
_KINDS = {
    "image": "image",
    "audio": "audio",
    "video": "video",
    "application/pdf": "document",
}


@dataclass(frozen=True, slots=True)
class Stratum:
    key: str  # e.g. "length 2/4, image"
    rows: int  # rows of the job in it
    sampled: tuple[str, ...]  # ids sent by the pilot


@dataclass(frozen=True, slots=True)
class Sample:
    strata: tuple[Stratum, ...]
    valid_rows: int
    invalid_rows: int  # cost nothing; never sent

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(i for s in self.strata for i in s.sampled)

    def stratum_of(self) -> dict[str, str]:
        return {i: s.key for s in self.strata for i in s.sampled}


def media_kind(row: Row) -> str:
    kinds = set()
    for ref in row.media:
        mime = ref.mime_type or mimetypes.guess_type(ref.path)[0] or ""
        kinds.add(_KINDS.get(mime) or _KINDS.get(mime.split("/")[0]) or "other")
    return "+".join(sorted(kinds)) or "text"


def draw_sample(spec: JobSpec, n: int, seed: int = 0) -> Sample:
    """A stratified sample of `n` valid rows of `spec` (all of them when the job has no more)."""
    lengths: list[int] = []
    rows: list[tuple[str, int, str]] = []  # id, prompt length, media kind
    invalid = 0
    for item in iter_rows(spec):
        if not isinstance(item, Row):
            invalid += 1
            continue
        size = len(item.prompt) + len(item.system or "")
        lengths.append(size)
        rows.append((item.id, size, media_kind(item)))
    bounds = _quantile_bounds(lengths, LENGTH_STRATA)
    groups: dict[str, list[str]] = {}
    for row_id, size, kind in rows:
        band = sum(1 for b in bounds if size > b) + 1
        groups.setdefault(f"length {band}/{len(bounds) + 1}, {kind}", []).append(row_id)
    sizes = _allocate({key: len(ids) for key, ids in groups.items()}, n)
    strata = tuple(
        Stratum(key, len(groups[key]), tuple(_pick(groups[key], sizes[key], seed)))
        for key in sorted(groups)
    )
    return Sample(strata, len(rows), invalid)


def _quantile_bounds(values: list[int], parts: int) -> list[int]:
    """Upper bounds of the first parts-1 bands (duplicates dropped: a job of equal lengths has one band)."""
    if not values:
        return []
    ordered = sorted(values)
    bounds = {
        ordered[min(len(ordered) - 1, len(ordered) * k // parts)]
        for k in range(1, parts)
    }
    return sorted(b for b in bounds if b < ordered[-1])


def _allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Sample sizes: one per stratum first (the largest ones, while `n` allows), then one at a time to the
    stratum furthest below its proportional share."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    keys = sorted(sizes, key=lambda k: (-sizes[k], k))
    taken = dict.fromkeys(sizes, 0)
    for key in keys[:n]:
        taken[key] = 1
    shares = {k: sizes[k] * n / total for k in keys}
    for _ in range(n - sum(taken.values())):
        open_keys = [k for k in keys if taken[k] < sizes[k]]
        best = max(open_keys, key=lambda k: shares[k] - taken[k])
        taken[best] += 1
    return taken


def _pick(ids: Iterable[str], k: int, seed: int) -> list[str]:
    def rank(row_id: str) -> bytes:
        return hashlib.blake2b(f"{seed}\x00{row_id}".encode(), digest_size=8).digest()

    return sorted(sorted(ids, key=rank)[:k])
