"""Backdrops and logos for the jobs: fetched and decoded once per process while unchanged.

Each job asks for the assets its options name. The cache asks the store for the object's
version (one small request) and decodes it again only when that changed; a dealer who uploads a
new studio under the same path gets it from the next job on. Bounded by decoded pixels, least
recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import anyio.to_thread

from daemon.domain.errors import InvalidOptions, SourceNotFound
from daemon.pipeline import Asset, Assets, Limits, ProcessingOptions, decode_asset

# Decoded pixels kept across jobs: a few studios and logos at full size.
CACHE_PIXELS = 120_000_000

RunSync = Callable[..., Awaitable[Any]]


class AssetSource(Protocol):
    """Where assets live: the assets bucket through the object store, or a local folder."""

    where: str  # for messages: "the assets bucket", "the folder assets/"

    async def version(self, path: str) -> str | None:
        """A tag that changes when the object does; None when there is no such object."""
        ...

    async def fetch(self, path: str) -> bytes:
        """The object's bytes; SourceNotFound when it does not exist."""
        ...


class StoreAssets:
    """An AssetSource over one bucket of an ObjectStore."""

    def __init__(self, store: Any, bucket: str) -> None:
        self._store = store
        self._bucket = bucket
        self.where = f"the assets bucket {bucket!r}"

    async def version(self, path: str) -> str | None:
        result: str | None = await self._store.version(self._bucket, path)
        return result

    async def fetch(self, path: str) -> bytes:
        data: bytes = await self._store.get(self._bucket, path)
        return data


class AssetCache:
    """Decoded assets by (path, version), shared by every job of this process."""

    def __init__(
        self,
        source: AssetSource,
        limits: Limits,
        *,
        capacity_pixels: int = CACHE_PIXELS,
        run_sync: RunSync = anyio.to_thread.run_sync,
    ) -> None:
        self._source = source
        self._limits = limits
        self._capacity = capacity_pixels
        self._run_sync = run_sync
        self._entries: OrderedDict[tuple[str, str], Asset] = OrderedDict()
        self._lock = threading.Lock()
        self.fetches = 0  # how often an asset was downloaded and decoded (tests, metrics)

    async def for_options(self, options: ProcessingOptions) -> Assets:
        """The backdrop and logo these options name (decoded), or none."""
        backdrop = logo = None
        if options.backdrop is not None:
            backdrop = await self.get(options.backdrop.path, "backdrop")
        if options.watermark is not None:
            logo = await self.get(options.watermark.path, "logo")
        return Assets(backdrop=backdrop, logo=logo)

    async def get(self, path: str, role: str) -> Asset:
        """One asset, from the cache while its version is the one cached."""
        version = await self._source.version(path)
        if version is None:
            raise self._missing(role, path)
        key = (path, version)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        try:
            data = await self._source.fetch(path)
        except SourceNotFound:
            raise self._missing(role, path) from None
        asset: Asset = await self._run_sync(partial(decode_asset, data, path, role, self._limits))
        self.fetches += 1
        with self._lock:
            for old in [k for k in self._entries if k[0] == path]:
                del self._entries[old]  # an older version of the same object
            self._entries[key] = asset
            while len(self._entries) > 1 and self._pixels() > self._capacity:
                self._entries.popitem(last=False)
        return asset

    def _pixels(self) -> int:
        return sum(asset.pixels for asset in self._entries.values())

    def _missing(self, role: str, path: str) -> InvalidOptions:
        return InvalidOptions(f"The {role} '{path}' does not exist in {self._source.where}.")
