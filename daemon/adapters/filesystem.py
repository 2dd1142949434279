"""FilesystemStore: buckets as folders under STORAGE_DIR, for the direct-Postgres backend and demo.

Writes are atomic (a temporary file in the same folder, then rename), so a reader never sees half
an image. Object paths are checked so that no path leaves its bucket's folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from stat import S_ISREG

import anyio

from daemon.domain.errors import SourceNotFound, StorageFailed


class FilesystemStore:
    """ObjectStore on a local folder: `<root>/<bucket>/<path>`."""

    def __init__(self, root: Path, *, public_base_url: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None

    def _file(self, bucket: str, path: str) -> Path:
        parts = PurePosixPath(path).parts
        if (
            not bucket
            or "/" in bucket
            or bucket in {".", ".."}
            or not parts
            or path.startswith("/")
            or any(p in {"..", "."} for p in parts)
        ):
            raise SourceNotFound(f"Object path {bucket}/{path} is not a valid storage path.")
        return self.root / bucket / Path(*parts)

    async def get(self, bucket: str, path: str) -> bytes:
        file = self._file(bucket, path)
        try:
            return await anyio.to_thread.run_sync(file.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise SourceNotFound(f"Object {bucket}/{path} does not exist.") from None
        except OSError as exc:
            raise StorageFailed(f"Reading {bucket}/{path} failed ({exc.strerror}).") from None

    async def put(
        self,
        bucket: str,
        path: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
    ) -> None:
        # content_type and cache_control belong to an HTTP store; a folder keeps only the bytes.
        file = self._file(bucket, path)
        try:
            await anyio.to_thread.run_sync(_atomic_write, file, data)
        except OSError as exc:
            raise StorageFailed(f"Writing {bucket}/{path} failed ({exc.strerror}).") from None

    async def delete(self, bucket: str, paths: list[str]) -> None:
        files = [self._file(bucket, p) for p in paths]

        def remove_all() -> None:
            for file in files:
                file.unlink(missing_ok=True)
                _prune_empty_parents(file.parent, self.root / bucket)

        try:
            await anyio.to_thread.run_sync(remove_all)
        except OSError as exc:
            raise StorageFailed(f"Deleting from {bucket} failed ({exc.strerror}).") from None

    async def list(self, bucket: str, prefix: str) -> list[str]:
        base = self.root / bucket
        folder = base / prefix.strip("/") if prefix.strip("/") else base

        def walk() -> list[str]:
            if not folder.is_dir():
                return []
            return sorted(
                p.relative_to(base).as_posix()
                for p in folder.rglob("*")
                if p.is_file() and not p.name.startswith(".tmp-")
            )

        try:
            return await anyio.to_thread.run_sync(walk)
        except OSError as exc:
            raise StorageFailed(f"Listing {bucket}/{prefix} failed ({exc.strerror}).") from None

    async def version(self, bucket: str, path: str) -> str | None:
        # Writes are atomic renames: a replaced file has a new inode and modification time.
        file = self._file(bucket, path)
        try:
            stat = await anyio.to_thread.run_sync(file.stat)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageFailed(f"Reading {bucket}/{path} failed ({exc.strerror}).") from None
        if not S_ISREG(stat.st_mode):
            return None
        return f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"

    def public_url(self, bucket: str, path: str) -> str:
        if self.public_base_url:
            return f"{self.public_base_url}/{bucket}/{path}"
        return self._file(bucket, path).as_uri()

    async def aclose(self) -> None:
        return None


def _atomic_write(file: Path, data: bytes) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=file.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
