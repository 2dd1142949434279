"""MemoryStore: the ObjectStore port as a dict of buckets, with the filesystem's path rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote

import anyio

from daemon.domain.errors import SourceNotFound


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str
    cache_control: str | None


class MemoryStore:
    """ObjectStore in memory: `objects[(bucket, path)]`; puts replace atomically."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], StoredObject] = {}

    @staticmethod
    def _key(bucket: str, path: str) -> tuple[str, str]:
        parts = PurePosixPath(path).parts
        if not bucket or "/" in bucket or not parts or path.startswith("/"):
            raise SourceNotFound(f"Object path {bucket}/{path} is not a valid storage path.")
        if any(p in ("..", ".") for p in path.split("/")):
            raise SourceNotFound(f"Object path {bucket}/{path} is not a valid storage path.")
        return bucket, "/".join(parts)

    async def get(self, bucket: str, path: str) -> bytes:
        await anyio.lowlevel.checkpoint()
        found = self.objects.get(self._key(bucket, path))
        if found is None:
            raise SourceNotFound(f"Object {bucket}/{path} does not exist.")
        return found.data

    async def put(
        self,
        bucket: str,
        path: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
    ) -> None:
        await anyio.lowlevel.checkpoint()
        self.objects[self._key(bucket, path)] = StoredObject(
            bytes(data), content_type, cache_control
        )

    async def version(self, bucket: str, path: str) -> str | None:
        await anyio.lowlevel.checkpoint()
        found = self.objects.get(self._key(bucket, path))
        return None if found is None else str(id(found))  # a replaced object is a new one

    async def delete(self, bucket: str, paths: list[str]) -> None:
        await anyio.lowlevel.checkpoint()
        for path in paths:
            self.objects.pop(self._key(bucket, path), None)

    async def list(self, bucket: str, prefix: str) -> list[str]:
        await anyio.lowlevel.checkpoint()
        folder = prefix.strip("/")
        return sorted(
            path
            for (b, path) in self.objects
            if b == bucket and (not folder or path.startswith(folder + "/"))
        )

    def public_url(self, bucket: str, path: str) -> str:
        return f"memory://{quote(bucket)}/{quote(path)}"

    async def aclose(self) -> None:
        return None
