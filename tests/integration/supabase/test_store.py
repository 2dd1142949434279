"""SupabaseStore against the double: Storage's object routes on a folder."""

from __future__ import annotations

import httpx
import pytest

from daemon.adapters.supabase import (
    STORAGE_TIMEOUT,
    SupabaseAuthError,
    SupabaseStore,
    make_client,
)
from daemon.adapters.supabase.store import storage_cache_control
from daemon.domain.errors import SourceNotFound, StorageFailed
from tests.doubles.supabase import SupabaseDouble

pytestmark = pytest.mark.anyio

OUT = "vehicle-photos-processed"


async def test_round_trip_keeps_content_type_and_cache_control(
    store: SupabaseStore, sb: SupabaseDouble
) -> None:
    path = "job-1/r0/processed.webp"
    await store.put(
        OUT,
        path,
        b"RIFF-webp",
        content_type="image/webp",
        cache_control="public, max-age=31536000, immutable",
    )

    assert await store.get(OUT, path) == b"RIFF-webp"
    url = store.public_url(OUT, path)
    assert url == f"{sb.url}/storage/v1/object/public/{OUT}/{path}"
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.content == b"RIFF-webp"
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == "max-age=31536000, immutable"
    assert (sb.storage_dir / OUT / path).read_bytes() == b"RIFF-webp"


async def test_put_replaces_an_existing_object(store: SupabaseStore) -> None:
    await store.put(OUT, "a/b.png", b"one", content_type="image/png")
    await store.put(OUT, "a/b.png", b"two", content_type="image/png")
    assert await store.get(OUT, "a/b.png") == b"two"


async def test_missing_object_and_missing_bucket_are_source_not_found(store: SupabaseStore) -> None:
    with pytest.raises(SourceNotFound, match=r"vehicle-photos/lot/none\.jpg"):
        await store.get("vehicle-photos", "lot/none.jpg")
    with pytest.raises(SourceNotFound):
        await store.get("no-such-bucket", "x.jpg")
    with pytest.raises(SourceNotFound, match="not a valid storage path"):
        await store.get("vehicle-photos", "../processing-cache/secret.png")


async def test_html_502_is_storage_failed(store: SupabaseStore, sb: SupabaseDouble) -> None:
    await store.put("vehicle-photos", "lot/car.jpg", b"jpeg", content_type="image/jpeg")
    sb.fail_storage_next(3)

    with pytest.raises(StorageFailed, match="status 502"):
        await store.get("vehicle-photos", "lot/car.jpg")
    with pytest.raises(StorageFailed):
        await store.put(OUT, "x.webp", b"x", content_type="image/webp")
    with pytest.raises(StorageFailed):
        await store.list(OUT, "x")
    # The fault was for three requests only.
    assert await store.get("vehicle-photos", "lot/car.jpg") == b"jpeg"


async def test_json_500_is_storage_failed(store: SupabaseStore, sb: SupabaseDouble) -> None:
    sb.fail_storage_next(1, status=500, html=False)
    with pytest.raises(StorageFailed, match="status 500"):
        await store.delete(OUT, ["a.webp"])


async def test_list_walks_sub_folders_and_delete_removes(store: SupabaseStore) -> None:
    paths = [
        "job/r0/processed.webp",
        "job/r0/grid.webp",
        "job/r1/processed.webp",
        "job/x.json",
        "other/r0/processed.webp",
    ]
    for path in paths:
        await store.put(OUT, path, b"x", content_type="image/webp")

    assert await store.list(OUT, "job") == sorted(p for p in paths if p.startswith("job/"))
    assert await store.list(OUT, "job/r0/") == ["job/r0/grid.webp", "job/r0/processed.webp"]
    assert await store.list(OUT, "nothing-here") == []

    await store.delete(OUT, ["job/r0/processed.webp", "job/r0/grid.webp", "job/r0/missing.webp"])
    assert await store.list(OUT, "job") == ["job/r1/processed.webp", "job/x.json"]
    with pytest.raises(SourceNotFound):
        await store.get(OUT, "job/r0/grid.webp")


async def test_list_pages_through_large_folders(
    store: SupabaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("daemon.adapters.supabase.store.LIST_PAGE", 2)
    for i in range(5):
        await store.put(OUT, f"big/{i}.webp", b"x", content_type="image/webp")
    assert await store.list(OUT, "big") == [f"big/{i}.webp" for i in range(5)]


async def test_wrong_key_is_a_refused_key_not_an_outage(sb: SupabaseDouble) -> None:
    # Formerly storage_failed (retried as an outage); a refused key is not worth a retry.
    store = SupabaseStore(make_client(sb.url, sb.wrong_service_key, STORAGE_TIMEOUT), sb.url)
    try:
        with pytest.raises(SupabaseAuthError, match=r"status 401.*SUPABASE_SERVICE_ROLE_KEY"):
            await store.get("vehicle-photos", "lot/car.jpg")
        with pytest.raises(SupabaseAuthError):
            await store.put("vehicle-photos-processed", "x/r0/a.webp", b"x", content_type="a/b")
    finally:
        await store.aclose()


def test_cache_control_becomes_storage_field() -> None:
    assert storage_cache_control(None) == "3600"
    assert storage_cache_control("31536000") == "31536000"
    assert storage_cache_control("public, max-age=31536000, immutable") == "31536000, immutable"
    assert storage_cache_control("max-age=600") == "600"
    assert storage_cache_control("no-store") == "3600"
