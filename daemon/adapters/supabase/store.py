"""SupabaseStore: Supabase Storage through storage3, its failures mapped to the error tree once.

storage3 (the version pinned) raises `StorageApiError` with the HTTP status for every error answer,
an HTML page from a proxy included, and lets httpx's own exceptions through for the network; a
2xx answer that is not JSON where JSON is due raises `json.JSONDecodeError`. Those are caught by
name: a missing object is source_not_found, a refused key CredentialsRefused (not worth a retry),
the rest storage_failed (an outage). Anything else is a bug and propagates as one.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from storage3.exceptions import StorageApiError
from storage3.utils import StorageException
from supabase import AsyncClient

from daemon.adapters.supabase.errors import KEY_CHECK, NETWORK_ERRORS, SupabaseAuthError
from daemon.domain.errors import SourceNotFound, StorageFailed

# What storage3 raises for an answer it could not use; StorageApiError is one of them.
STORAGE_ERRORS = (StorageException, json.JSONDecodeError, *NETWORK_ERRORS)

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


def _is_refused_key(exc: BaseException) -> bool:
    # The gateway answers a wrong apikey with 401; Storage a bad bearer token with 403
    # (statusCode "403", error "Unauthorized"). The service role passes every storage policy,
    # so neither can mean "this object is not yours".
    status, _ = _status(exc)
    return isinstance(exc, StorageApiError) and status in ("401", "403")


def _failed(action: str, bucket: str, path: str, exc: BaseException) -> Exception:
    """One storage3 exception (caught by name) as SupabaseAuthError or StorageFailed."""
    status, _ = _status(exc)
    if _is_refused_key(exc):
        return SupabaseAuthError(
            f"Supabase Storage refused the service role key (status {status}): {KEY_CHECK}"
        )
    reason = f"status {status}" if status else type(exc).__name__
    return StorageFailed(f"Supabase Storage failed to {action} {bucket}/{path} ({reason}).")


def _check_path(bucket: str, path: str) -> None:
    # storage3 refuses dot segments with a ValueError before any request; say it as a sentence
    # here rather than catch a ValueError that a bug could raise too.
    if any(part in (".", "..") for part in path.split("/")):
        raise SourceNotFound(f"Object path {bucket}/{path} is not a valid storage path.")


class SupabaseStore:
    """ObjectStore on Supabase Storage; public URLs are built without a request."""

    def __init__(self, client: AsyncClient, public_base_url: str) -> None:
        self._client = client
        self._public_base = public_base_url.rstrip("/")

    async def get(self, bucket: str, path: str) -> bytes:
        """Download an object; SourceNotFound when it (or its bucket) does not exist."""
        _check_path(bucket, path)
        try:
            return bytes(await self._client.storage.from_(bucket).download(path))
        except STORAGE_ERRORS as exc:
            if _is_not_found(exc) and not _is_refused_key(exc):
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
        except STORAGE_ERRORS as exc:
            raise _failed("upload", bucket, path, exc) from None

    async def delete(self, bucket: str, paths: list[str]) -> None:
        """Remove objects in batches; Storage ignores missing ones."""
        for start in range(0, len(paths), DELETE_BATCH):
            batch = paths[start : start + DELETE_BATCH]
            try:
                await self._client.storage.from_(bucket).remove(batch)
            except STORAGE_ERRORS as exc:
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
                except STORAGE_ERRORS as exc:
                    if _is_not_found(exc) and not _is_refused_key(exc):
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
        except STORAGE_ERRORS as exc:
            if _is_not_found(exc) and not _is_refused_key(exc):
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
