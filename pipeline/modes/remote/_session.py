"""One session of a run whose directory is remote: prepare the local cache, run, checkpoint, publish.

Layout of a remote run directory (the same as a local one, less the live SQLite files)::

    DIR/journal.sqlite     the journal as of the last checkpoint (one self-contained SQLite file)
    DIR/checkpoint.json    which checkpoint that is: {"generation", "written_at", "host", "pid", "final"}
    DIR/results/           the Parquet results, replaced at the end of every session
    DIR/images/            generated images, uploaded at each checkpoint
    DIR/summary.json       the last session's summary

The local cache (`pipeline.storage.cache_dir_for(DIR)`) remembers the generation it last uploaded or downloaded:
when DIR holds a newer checkpoint (another machine ran since), or the cache has no journal, the checkpoint is
downloaded before the engine opens the journal. What a killed session journaled after its last checkpoint is
lost only to another machine: the same machine resumes from its own, newer, local journal.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import anyio

from pipeline.engine import RunOptions, RunResult, RunStats, run_job
from pipeline.errors import OutputError
from pipeline.results import SUMMARY_NAME
from pipeline.spec import JobSpec
from pipeline.storage import Location, cache_dir_for, location
from pipeline.store import JOURNAL_NAME, backup_journal, holder_pid
from pipeline.transport import Transport

CHECKPOINT_META = "checkpoint.json"
_LOCAL_GENERATION = ".checkpoint-generation"
_SNAPSHOT = ".checkpoint.sqlite"
RESULTS_DIR = "results"
IMAGES_DIR = "images"


def prepare_cache(destination: Location, cache: Path | None = None) -> Path:
    """The local directory that works for `destination`, holding its latest journal; created if needed.

    Raises `OutputError` when a live run on this machine holds the cache, or the checkpoint cannot be read.
    """
    cache = cache or cache_dir_for(destination)
    cache.mkdir(parents=True, exist_ok=True)
    if holder_pid(cache) is not None:
        raise OutputError(
            f"{destination} is in use by another run on this machine (its cache {cache} is locked)"
        )
    try:
        remote_meta = _read_meta(destination)
        local_journal = cache / JOURNAL_NAME
        local_generation = _read_text(cache / _LOCAL_GENERATION)
        remote_generation = str(remote_meta.get("generation") or "")
        checkpoint = destination / JOURNAL_NAME
        if remote_generation and (
            not local_journal.is_file() or remote_generation != local_generation
        ):
            for suffix in (
                "-wal",
                "-shm",
            ):  # a stale WAL must never be replayed into another database
                (cache / (JOURNAL_NAME + suffix)).unlink(missing_ok=True)
            checkpoint.download(local_journal)
            (cache / _LOCAL_GENERATION).write_text(remote_generation)
    except OSError as exc:
        raise OutputError(
            f"{destination}: cannot read the run's checkpoint: {exc}"
        ) from exc
    return cache


@dataclass
class RemoteRun:
    """Uploads a local run directory's state to its remote directory."""

    destination: Location
    cache: Path
    uploaded_images: set[str] = field(default_factory=set)
    checkpoints: int = 0

    def checkpoint(self, *, final: bool = False) -> None:
        """Journal snapshot, then its generation marker; new images; the summary if there is one."""
        self._upload_images()
        snapshot = self.cache / _SNAPSHOT
        if backup_journal(self.cache, snapshot):
            (self.destination / JOURNAL_NAME).upload(snapshot)
            snapshot.unlink(missing_ok=True)
            generation = secrets.token_hex(8)
            meta = {
                "generation": generation,
                "written_at": time.time(),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "final": final,
            }
            (self.destination / CHECKPOINT_META).write_bytes(json.dumps(meta).encode())
            (self.cache / _LOCAL_GENERATION).write_text(generation)
            self.checkpoints += 1
        summary = self.cache / SUMMARY_NAME
        if final and summary.is_file():
            (self.destination / SUMMARY_NAME).upload(summary)

    def publish_results(self) -> None:
        """Replace DIR/results/ with the local results: new parts first, then the old ones that are left."""
        local = self.cache / RESULTS_DIR
        if not local.is_dir():
            return
        remote = self.destination / RESULTS_DIR
        before = {name for name, _ in remote.list_files()}
        written: set[str] = set()
        for part in sorted(local.iterdir()):
            if part.is_file():
                (remote / part.name).upload(part)
                written.add(part.name)
        for name in before - written:
            (remote / name).delete()

    def _upload_images(self) -> None:
        """Images finished since the last checkpoint; the local copy goes once it is in the bucket."""
        folder = self.cache / IMAGES_DIR
        if not folder.is_dir():
            return
        for image in sorted(folder.iterdir()):
            if image.name.startswith(".tmp-") or not image.is_file():
                continue
            (self.destination / IMAGES_DIR / image.name).upload(image)
            self.uploaded_images.add(image.name)
            image.unlink(missing_ok=True)


async def run_remote(
    spec: JobSpec,
    options: RunOptions,
    destination: str | Location,
    *,
    checkpoint_s: float = 30.0,
    transport: Transport | None = None,
    stats: RunStats | None = None,
) -> RunResult:
    """Run (or resume) `spec` into the remote directory `destination`; see the module docstring.

    `options.out_dir` is ignored: the engine works in the local cache of `destination`.
    """
    where = location(destination)
    cache = await anyio.to_thread.run_sync(prepare_cache, where)
    sync = RemoteRun(where, cache)
    local_options = replace(options, out_dir=cache)

    async def every() -> None:
        while True:
            await anyio.sleep(checkpoint_s)
            await anyio.to_thread.run_sync(sync.checkpoint)

    result: RunResult | None = None
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(every)
            try:
                result = await run_job(
                    spec, local_options, transport=transport, stats=stats
                )
            finally:
                group.cancel_scope.cancel()
    finally:
        # Also after a refused key or an interrupt: what was journaled reaches the bucket.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_publish, sync, result is not None)
    assert result is not None  # run_job returned: otherwise its exception propagates
    return result


def _publish(sync: RemoteRun, finished: bool) -> None:
    try:
        if finished:
            sync.publish_results()
        sync.checkpoint(final=True)
    except OSError as exc:
        raise OutputError(
            f"{sync.destination}: cannot upload the run's results and checkpoint: {exc}; the local copy "
            f"is in {sync.cache}; run the job again to retry"
        ) from exc


def _read_meta(destination: Location) -> dict[str, object]:
    meta = destination / CHECKPOINT_META
    if not meta.is_file():
        return {}
    try:
        loaded = json.loads(meta.read_bytes())
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
