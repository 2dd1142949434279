"""SupabaseStore: Supabase Storage through storage3, with every failure mapped to the contract.

storage3 raises StorageApiError for JSON error bodies, but other things for others (JSONDecodeError
or AttributeError on an HTML page from a proxy in older versions, raw httpx errors on the network),
so every call is wrapped broadly: a missing object is source_not_found, the rest storage_failed.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from supabase import AsyncClient

from daemon.errors import SourceNotFound, StorageFailed

# Storage prefixes the multipart `cacheControl` field with "max-age=" and serves the result as
# the object's Cache-Control, so "31536000, immutable" becomes "max-age=31536000, immutable".
DEFAULT_CACHE_SECONDS = "3600"
# Storage refuses more than this many paths in one delete.
DELETE_BATCH = 1000
LIST_PAGE = 1000


def storage_cache_control(cache_control: str | None) -> str:
    """Storage's `cacheControl` field for a Cache-Control value ("public, max-age=N, immutable")
    or a number of seconds; the `immutable` hint is kept for versioned paths."""
    if cache_control is None:
        return DEFAULT_CACHE_SECONDS
    value = cache_control.strip()
    match = re.search(r"max-age\s*=\s*(\d+)", value) or re.match(r"(\d+)\b", value)
    seconds = match.group(1) if match else DEFAULT_CACHE_SECONDS
    return f"{seconds}, immutable" if "immutable" in value.lower() else seconds


def _status(exc: BaseException) -> tuple[str, str]:
    """(HTTP status, Storage error code) of a storage3 exception, as strings; '' when unknown."""
    status = getattr(exc, "status", "")
    code = getattr(exc, "code", "")
    return str(status or ""), str(code or "")


def _is_not_found(exc: BaseException) -> bool:
    status, code = _status(exc)
    message = str(getattr(exc, "message", "")).lower()
    return status == "404" or code in ("not_found", "NoSuchKey") or "not found" in message


def _failed(action: str, bucket: str, path: str, exc: BaseException) -> StorageFailed:
    status, _ = _status(exc)
    reason = f"status {status}" if status else type(exc).__name__
    return StorageFailed(f"Supabase Storage failed to {action} {bucket}/{path} ({reason}).")


class SupabaseStore:
    """ObjectStore on Supabase Storage; public URLs are built without a request."""

    def __init__(self, client: AsyncClient, public_base_url: str) -> None:
        self._client = client
        self._public_base = public_base_url.rstrip("/")

    async def get(self, bucket: str, path: str) -> bytes:
        """Download an object; SourceNotFound when it (or its bucket) does not exist."""
        try:
            return bytes(await self._client.storage.from_(bucket).download(path))
        except ValueError:  # storage3 refuses dot segments ("..") before any request
            raise SourceNotFound(
                f"Object path {bucket}/{path} is not a valid storage path."
            ) from None
        except Exception as exc:
            if _is_not_found(exc):
                raise SourceNotFound(f"Object {bucket}/{path} does not exist.") from None
            raise _failed("download", bucket, path, exc) from None

    async def put(
        self,
        bucket: str,
        path: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
    ) -> None:
        """Upload with upsert, the given content type and cache lifetime."""
        options: Any = {
            "content-type": content_type,
            "cache-control": storage_cache_control(cache_control),
            "upsert": "true",
        }
        try:
            await self._client.storage.from_(bucket).upload(path, data, file_options=options)
        except Exception as exc:
            raise _failed("upload", bucket, path, exc) from None

    async def delete(self, bucket: str, paths: list[str]) -> None:
        """Remove objects in batches; Storage ignores missing ones."""
        for start in range(0, len(paths), DELETE_BATCH):
            batch = paths[start : start + DELETE_BATCH]
            try:
                await self._client.storage.from_(bucket).remove(batch)
            except Exception as exc:
                raise _failed("delete from", bucket, batch[0], exc) from None

    async def list(self, bucket: str, prefix: str) -> list[str]:
        """Every object path under the folder `prefix`, walking sub-folders (Storage lists one
        level: folders come back with a null id)."""
        found: list[str] = []
        folders = [prefix.strip("/")]
        while folders:
            folder = folders.pop()
            offset = 0
            while True:
                try:
                    entries = await self._client.storage.from_(bucket).list(
                        folder, {"limit": LIST_PAGE, "offset": offset}
                    )
                except Exception as exc:
                    if _is_not_found(exc):
                        break
                    raise _failed("list", bucket, folder, exc) from None
                for entry in entries:
                    name = entry.get("name")
                    if not name or name == ".emptyFolderPlaceholder":
                        continue
                    full = f"{folder}/{name}" if folder else name
                    if entry.get("id") is None:
                        folders.append(full)
                    else:
                        found.append(full)
                if len(entries) < LIST_PAGE:
                    break
                offset += LIST_PAGE
        return sorted(found)

    async def version(self, bucket: str, path: str) -> str | None:
        """The object's id and update time, from a listing of its folder (Storage gives a new
        id and updated_at when an object is replaced)."""
        folder, _, name = path.strip("/").rpartition("/")
        try:
            entries = await self._client.storage.from_(bucket).list(
                folder, {"limit": LIST_PAGE, "offset": 0, "search": name}
            )
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise _failed("read", bucket, path, exc) from None
        for entry in entries:
            if entry.get("name") == name and entry.get("id") is not None:
                meta = entry.get("metadata") or {}
                return f"{entry['id']}-{entry.get('updated_at')}-{meta.get('size')}"
        return None

    def public_url(self, bucket: str, path: str) -> str:
        """`<url>/storage/v1/object/public/<bucket>/<path>`, as Storage serves public buckets."""
        return f"{self._public_base}/storage/v1/object/public/{quote(bucket)}/{quote(path)}"

    async def aclose(self) -> None:
        """Close the HTTP connections of the storage client."""
        await self._client.storage.session.aclose()
