"""`Location`: a local path or a URL, with the few operations the pipeline needs on either.

Local paths use the operating system directly (so local behaviour is exactly what it was before URLs were
accepted). URLs go through one `pyarrow.fs.FileSystem` per scheme and bucket:

- `s3://bucket/key`: pyarrow's own S3 client, configured by the AWS SDK's usual chain (AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, AWS_REGION / AWS_DEFAULT_REGION, instance roles) and
  AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 for S3-compatible stores (MinIO, moto, R2, ...).
- `gs://bucket/key` (or `gcs://`): pyarrow's GCS client with Application Default Credentials;
  STORAGE_EMULATOR_HOST (as google-cloud-storage and gcsfs read it) points it at an emulator, anonymously.
- any other scheme fsspec knows (`az://`, `hf://`, `memory://`, ...), through `fsspec` wrapped as a
  pyarrow filesystem (install the matching fsspec implementation).

Reads are streamed: `open_input()` returns a seekable, buffered file that fetches byte ranges as they are read
(Parquet footers, media headers), `open_stream()` a sequential one (JSONL). Nothing is downloaded whole unless
`download()` is asked for.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

Where = Path | str
"""A local path, or a URL (str) with a scheme: `s3://bucket/key`."""

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$")
_BUFFER = 1 << 20
_COPY_BLOCK = 8 << 20
_fs_lock = threading.Lock()
_filesystems: dict[tuple[str, str], Any] = {}


def is_url(where: Where) -> bool:
    """True for `scheme://...` other than `file://` (a Path is never a URL)."""
    if not isinstance(where, str):
        return False
    match = _URL.match(where)
    return match is not None and match.group(1).lower() != "file"


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What is at a location: `kind` is "file", "dir" or None (nothing there)."""

    kind: str | None
    size: int = 0
    mtime_ns: int = 0


def location(where: Where | Location) -> Location:
    """The `Location` of a path or URL (a `file://` URL is a local path)."""
    if isinstance(where, Location):
        return where
    if isinstance(where, str):
        match = _URL.match(where)
        if match is not None and match.group(1).lower() == "file":
            return Location(str(Path(match.group(2)).absolute()))
        if match is not None:
            scheme = match.group(1).lower()
            scheme = "gs" if scheme == "gcs" else scheme
            return Location(f"{scheme}://{match.group(2).rstrip('/')}")
    return Location(str(Path(where).absolute()))


@dataclass(frozen=True, slots=True)
class Location:
    """A file or directory, local or remote; build one with `location()`. `str()` gives the path or URL."""

    url: str

    def __str__(self) -> str:
        return self.url

    @property
    def is_remote(self) -> bool:
        return is_url(self.url)

    @property
    def local(self) -> Path | None:
        """The local path, or None for a remote location."""
        return None if self.is_remote else Path(self.url)

    @property
    def scheme(self) -> str:
        match = _URL.match(self.url)
        return match.group(1) if match else "file"

    @property
    def name(self) -> str:
        return (
            PurePosixPath(self._key()).name if self.is_remote else Path(self.url).name
        )

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def parent(self) -> Location:
        if not self.is_remote:
            return Location(str(Path(self.url).parent))
        head, _, _ = self.url.rpartition("/")
        return Location(head) if "://" in head and not head.endswith(":/") else self

    def __truediv__(self, name: str) -> Location:
        if not self.is_remote:
            return Location(str(Path(self.url) / name))
        return Location(f"{self.url.rstrip('/')}/{name.strip('/')}")

    def relative_to(self, root: Location) -> str:
        """This location's path under `root`, with `/` separators; ValueError when it is not under it."""
        prefix = root.url.rstrip("/") + "/"
        if not self.url.startswith(prefix):
            raise ValueError(f"{self} is not under {root}")
        return self.url[len(prefix) :]

    # -- metadata ---------------------------------------------------------------------------------------

    def info(self) -> FileInfo:
        local = self.local
        if local is not None:
            try:
                stat = local.stat()
            except (FileNotFoundError, NotADirectoryError):
                return FileInfo(None)
            kind = "dir" if local.is_dir() else "file"
            return FileInfo(kind, stat.st_size, stat.st_mtime_ns)
        import pyarrow.fs as pafs

        fs, path = self._fs()
        found = fs.get_file_info(path)
        if found.type == pafs.FileType.NotFound:
            return FileInfo(None)
        if found.type == pafs.FileType.Directory:
            return FileInfo("dir")
        mtime = found.mtime_ns or 0
        return FileInfo("file", int(found.size or 0), int(mtime))

    def exists(self) -> bool:
        return self.info().kind is not None

    def is_file(self) -> bool:
        return self.info().kind == "file"

    def is_dir(self) -> bool:
        return self.info().kind == "dir"

    def list_files(self, *, recursive: bool = True) -> list[tuple[str, int]]:
        """(path relative to this directory, size) of every file under it; [] when there is none."""
        local = self.local
        if local is not None:
            if not local.is_dir():
                return []
            found = local.rglob("*") if recursive else local.iterdir()
            return sorted(
                (item.relative_to(local).as_posix(), item.stat().st_size)
                for item in found
                if item.is_file()
            )
        import pyarrow.fs as pafs

        fs, path = self._fs()
        selector = pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
        prefix = path.rstrip("/") + "/"
        return sorted(
            (item.path[len(prefix) :], int(item.size or 0))
            for item in fs.get_file_info(selector)
            if item.type == pafs.FileType.File and item.path.startswith(prefix)
        )

    # -- reading ----------------------------------------------------------------------------------------

    def open_input(self) -> IO[bytes]:
        """A buffered, seekable reader: byte ranges are fetched as they are read (S3/GCS range requests)."""
        local = self.local
        if local is not None:
            return local.open("rb")
        fs, path = self._fs()
        raw = fs.open_input_file(path)
        return io.BufferedReader(raw, buffer_size=_BUFFER)

    def open_stream(self) -> IO[bytes]:
        """A buffered, sequential reader (one streamed GET for a remote file)."""
        local = self.local
        if local is not None:
            return local.open("rb")
        fs, path = self._fs()
        raw = fs.open_input_stream(path)
        return io.BufferedReader(raw, buffer_size=_BUFFER)

    def read_bytes(self) -> bytes:
        with self.open_stream() as file:
            return file.read()

    def arrow_file(self) -> Any:
        """A pyarrow RandomAccessFile (for `pyarrow.parquet.ParquetFile`), or the local path as a string."""
        local = self.local
        if local is not None:
            return str(local)
        fs, path = self._fs()
        return fs.open_input_file(path)

    def arrow_filesystem(self) -> tuple[Any, str]:
        """(pyarrow FileSystem, path in it): for `pyarrow.dataset` and `pyarrow.parquet` writers."""
        local = self.local
        if local is not None:
            import pyarrow.fs as pafs

            return pafs.LocalFileSystem(), str(local)
        return self._fs()

    # -- writing ----------------------------------------------------------------------------------------

    def open_output(self) -> IO[bytes]:
        """A streamed writer; the object appears whole when the writer is closed (remote), or is written
        in place (local: use `write_bytes` or `upload` for a crash-safe replacement)."""
        local = self.local
        if local is not None:
            local.parent.mkdir(parents=True, exist_ok=True)
            return local.open("wb")
        fs, path = self._fs()
        return fs.open_output_stream(path)  # type: ignore[no-any-return]

    def write_bytes(self, data: bytes) -> None:
        local = self.local
        if local is not None:
            _replace_local(local, lambda out: out.write(data))
            return
        with self.open_output() as out:
            out.write(data)

    def upload(self, source: Path) -> None:
        """Copy the local file `source` here (streamed; a remote object appears whole or not at all)."""
        local = self.local
        if local is not None:
            with source.open("rb") as src:
                _replace_local(
                    local, lambda out: shutil.copyfileobj(src, out, _COPY_BLOCK)
                )
            return
        with source.open("rb") as src, self.open_output() as out:
            shutil.copyfileobj(src, out, _COPY_BLOCK)

    def download(self, target: Path) -> None:
        """Copy this file to the local path `target` (written under a temporary name, then renamed)."""
        with self.open_stream() as src:
            _replace_local(
                target, lambda out: shutil.copyfileobj(src, out, _COPY_BLOCK)
            )

    def delete(self) -> None:
        """Delete this file; nothing happens when there is none."""
        local = self.local
        if local is not None:
            local.unlink(missing_ok=True)
            return
        fs, path = self._fs()
        try:
            fs.delete_file(path)
        except FileNotFoundError:
            pass

    # -- internals --------------------------------------------------------------------------------------

    def _key(self) -> str:
        match = _URL.match(self.url)
        return match.group(2) if match else self.url

    def _fs(self) -> tuple[Any, str]:
        """(pyarrow filesystem, path in it) for a remote location."""
        scheme = self.scheme
        key = self._key()
        bucket = key.split("/", 1)[0]
        with _fs_lock:
            fs = _filesystems.get((scheme, bucket))
            if fs is None:
                fs = _filesystems[(scheme, bucket)] = _filesystem(scheme, self.url)
        if scheme in ("s3", "gs"):
            return fs, key
        return fs, _fsspec_path(self.url)


def _filesystem(scheme: str, url: str) -> Any:
    import pyarrow.fs as pafs

    if scheme == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
            "AWS_ENDPOINT_URL"
        )
        if endpoint:
            region = os.environ.get("AWS_REGION") or os.environ.get(
                "AWS_DEFAULT_REGION", "us-east-1"
            )
            http = endpoint.startswith("http://")
            return pafs.S3FileSystem(
                endpoint_override=endpoint.split("://", 1)[-1],
                scheme="http" if http else "https",
                region=region,
            )
        fs, _ = pafs.FileSystem.from_uri(url)
        return fs
    if scheme == "gs":
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            http = not emulator.startswith("https://")
            return pafs.GcsFileSystem(
                anonymous=True,
                endpoint_override=emulator.split("://", 1)[-1],
                scheme="http" if http else "https",
            )
        return pafs.GcsFileSystem()
    try:
        import fsspec
    except ImportError:
        raise OSError(
            f"{url}: the {scheme}:// scheme needs fsspec and its {scheme} implementation; "
            "pip install -e '.[scale]'"
        ) from None
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    return PyFileSystem(FSSpecHandler(fsspec.filesystem(scheme)))


def _fsspec_path(url: str) -> str:
    import fsspec.core

    _, path = fsspec.core.url_to_fs(url)
    return str(path)


def _replace_local(target: Path, write: Any) -> None:
    """Write `target` through a temporary file in its directory, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with tmp.open("wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cache_root() -> Path:
    """Where remote runs keep their local state: PIPELINE_CACHE_DIR, else $XDG_CACHE_HOME/pipeline, else
    ~/.cache/pipeline."""
    explicit = os.environ.get("PIPELINE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pipeline"


def cache_dir_for(where: Location) -> Path:
    """The local directory that works for the remote run directory `where` (stable per URL)."""
    digest = hashlib.sha256(where.url.encode("utf-8")).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", where.name)[:40] or "run"
    return cache_root() / "runs" / f"{safe}-{digest}"
