"""The background-removal cache (CONTRACT.md section 6), in front of any remover.

Keyed by the SHA-256 of the original's bytes, the provider and its mode, it keeps the provider's
answer byte for byte at `cutouts/<provider>/<mode>/<sha256>.png` in the cache bucket, so the same
photo is never paid for twice, whatever crop, shadow or variant options come later.
"""

from __future__ import annotations

from daemon.app import metrics
from daemon.domain.errors import SourceNotFound
from daemon.domain.options import ProcessingOptions
from daemon.pipeline.removal import (
    BackgroundRemover,
    Removal,
    RemovalPlan,
    Upload,
    png_removal_kind,
)
from daemon.ports import ObjectStore


def cache_path(provider: str, mode: str, sha256: str) -> str:
    return f"cutouts/{provider}/{mode}/{sha256}.png"


class CachedRemoval:
    """A remover for one source: looks in the cache first, stores what the provider answers.

    One instance per job, since the key is the original's hash, which the remover never sees (it
    gets the downscaled upload). `hit` tells the job whether the provider was called.
    """

    def __init__(
        self, inner: BackgroundRemover, store: ObjectStore, bucket: str, source_sha256: str
    ) -> None:
        self._inner = inner
        self._store = store
        self._bucket = bucket
        self._sha256 = source_sha256
        self.hit: bool = False

    @property
    def provider(self) -> str:
        return self._inner.provider

    def plan(self, options: ProcessingOptions) -> RemovalPlan | None:
        return self._inner.plan(options)

    async def remove(self, upload: Upload, plan: RemovalPlan) -> Removal:
        path = cache_path(plan.provider, plan.mode, self._sha256)
        try:
            png = await self._store.get(self._bucket, path)
        except SourceNotFound:
            pass
        else:
            # StorageFailed propagates: a transient store error retries the job later rather
            # than paying the provider again for an answer we already have.
            self.hit = True
            metrics.cache_hits.inc()
            return Removal(
                kind=png_removal_kind(png),
                png=png,
                provider=plan.provider,
                mode=plan.mode,
                repainted=plan.repaints,
            )
        metrics.cache_misses.inc()
        removal = await self._inner.remove(upload, plan)
        await self._store.put(self._bucket, path, removal.png, content_type="image/png")
        return removal

    async def aclose(self) -> None:
        return None  # the inner remover is shared and closed by its owner
