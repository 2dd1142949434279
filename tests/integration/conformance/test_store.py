"""The ObjectStore port behaves the same on every backend."""

from __future__ import annotations

import pytest

from daemon.domain.errors import SourceNotFound
from daemon.ports import ObjectStore

pytestmark = pytest.mark.anyio

BUCKET = "vehicle-photos-processed"


async def test_put_get_overwrite_list_delete(store: ObjectStore) -> None:
    await store.put(BUCKET, "job-1/r0/processed.webp", b"first", content_type="image/webp")
    assert await store.get(BUCKET, "job-1/r0/processed.webp") == b"first"
    await store.put(
        BUCKET,
        "job-1/r0/processed.webp",
        b"second",
        content_type="image/webp",
        cache_control="public, max-age=31536000, immutable",
    )
    assert await store.get(BUCKET, "job-1/r0/processed.webp") == b"second"
    await store.put(BUCKET, "job-1/r1/grid.webp", b"grid", content_type="image/webp")
    await store.put(BUCKET, "job-2/r0/grid.webp", b"other", content_type="image/webp")
    assert await store.list(BUCKET, "job-1") == ["job-1/r0/processed.webp", "job-1/r1/grid.webp"]
    await store.delete(BUCKET, ["job-1/r0/processed.webp", "job-1/r0/never-there.webp"])
    assert await store.list(BUCKET, "job-1") == ["job-1/r1/grid.webp"]
    with pytest.raises(SourceNotFound):
        await store.get(BUCKET, "job-1/r0/processed.webp")
    assert await store.list(BUCKET, "job-404") == []


async def test_missing_object_is_source_not_found(store: ObjectStore) -> None:
    with pytest.raises(SourceNotFound) as caught:
        await store.get("vehicle-photos", "nobody/uploaded-this.jpg")
    assert caught.value.code == "source_not_found"
    assert "\n" not in caught.value.message


async def test_public_url_names_the_object(store: ObjectStore) -> None:
    url = store.public_url(BUCKET, "job-1/r0/grid.webp")
    assert url.endswith(f"{BUCKET}/job-1/r0/grid.webp")
