"""Supabase Storage's object routes on a folder: `<root>/<bucket>/<path>` holds the bytes (the same
layout as the daemon's FilesystemStore), `<root>/.meta/<bucket>/<path>.json` the content type and
cache control. Errors use Storage's body `{"statusCode", "error", "message"}`."""

from __future__ import annotations

import json
import mimetypes
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from tests.doubles.supabase.http import BadRequest, Request, Response, parse_multipart

META = ".meta"


def storage_error(status: int, error: str, message: str) -> Response:
    return Response.json(status, {"statusCode": str(status), "error": error, "message": message})


def not_found() -> Response:
    return storage_error(404, "not_found", "Object not found")


@dataclass
class Bucket:
    name: str
    public: bool


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class Storage:
    """The `/storage/v1/object` routes."""

    def __init__(self, root: Path, buckets: dict[str, bool]) -> None:
        self.root = root
        self.buckets = {name: Bucket(name, public) for name, public in buckets.items()}
        for name in self.buckets:
            (root / name).mkdir(parents=True, exist_ok=True)

    # -- files ---------------------------------------------------------------------------------

    def _file(self, bucket: str, key: str) -> Path | None:
        parts = PurePosixPath(key).parts
        if not key or key.startswith("/") or any(p in ("..", ".") for p in parts) or not parts:
            return None
        return self.root / bucket / Path(*parts)

    def _meta_file(self, bucket: str, key: str) -> Path:
        return self.root / META / bucket / (key + ".json")

    def read_meta(self, bucket: str, key: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self._meta_file(bucket, key).read_text()))
        except (OSError, ValueError):
            guessed = mimetypes.guess_type(key)[0] or "application/octet-stream"
            return {"mimetype": guessed, "cacheControl": "max-age=3600"}

    def _write(self, bucket: str, key: str, data: bytes, meta: dict[str, Any]) -> None:
        file = self._file(bucket, key)
        assert file is not None
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, file)
        meta_file = self._meta_file(bucket, key)
        meta_file.parent.mkdir(parents=True, exist_ok=True)
        meta_file.write_text(json.dumps(meta))

    # -- routes --------------------------------------------------------------------------------

    def _bucket(self, name: str) -> Bucket | None:
        return self.buckets.get(name)

    def upload(self, request: Request, bucket: str, key: str, role: str) -> Response:
        """POST (create; replace with x-upsert: true) or PUT (replace) an object."""
        if self._bucket(bucket) is None:
            return storage_error(404, "Bucket not found", "Bucket not found")
        file = self._file(bucket, key)
        if file is None:
            return storage_error(400, "InvalidKey", f"Invalid key: {key}")
        content_type = request.headers.get("content-type", "")
        cache_control = "no-cache"  # what Storage stores when no cacheControl is given
        if content_type.startswith("multipart/form-data"):
            try:
                parts = parse_multipart(content_type, request.body)
            except BadRequest as exc:
                return storage_error(400, "InvalidRequest", str(exc))
            # Storage takes the first part that has a filename (supabase-js sends an empty name).
            filepart = next((p for p in parts if p.filename is not None), None)
            if filepart is None:
                return storage_error(400, "InvalidRequest", "No file part in the form")
            for part in parts:
                if part.name == "cacheControl" and part.data:
                    cache_control = f"max-age={part.data.decode()}"
            data, mimetype = filepart.data, filepart.content_type or "application/octet-stream"
        else:
            data = request.body
            mimetype = content_type or "application/octet-stream"
            cache_control = request.headers.get("cache-control", cache_control)
        exists = file.is_file()
        if request.method == "POST" and exists and request.headers.get("x-upsert") != "true":
            return storage_error(409, "Duplicate", "The resource already exists")
        if request.method == "PUT" and not exists:
            return not_found()
        now = time.time()
        meta = {
            "id": str(uuid.uuid4()),
            "mimetype": mimetype,
            "cacheControl": cache_control,
            "size": len(data),
            "role": role,
            "created_at": _iso(now),
            "updated_at": _iso(now),
        }
        self._write(bucket, key, data, meta)
        return Response.json(200, {"Key": f"{bucket}/{key}", "Id": meta["id"]})

    def download(
        self, bucket: str, key: str, *, public: bool = False, head: bool = False
    ) -> Response:
        b = self._bucket(bucket)
        if b is None:
            return storage_error(404, "Bucket not found", "Bucket not found")
        if public and not b.public:
            return not_found()
        file = self._file(bucket, key)
        if file is None or not file.is_file():
            return not_found()
        meta = self.read_meta(bucket, key)
        data = b"" if head else file.read_bytes()
        response = Response(
            200,
            data,
            {
                "Content-Type": str(meta.get("mimetype")),
                "Cache-Control": str(meta.get("cacheControl")),
                "ETag": f'"{meta.get("id", "")}"',
            },
        )
        if head:
            response.headers["Content-Length"] = str(file.stat().st_size)
        return response

    def remove(self, request: Request, bucket: str) -> Response:
        if self._bucket(bucket) is None:
            return storage_error(404, "Bucket not found", "Bucket not found")
        try:
            prefixes = request.json().get("prefixes")
        except (ValueError, AttributeError):
            prefixes = None
        if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
            return storage_error(
                400, "InvalidRequest", "body must have required property 'prefixes'"
            )
        removed = []
        for key in prefixes:
            file = self._file(bucket, key)
            if file is None or not file.is_file():
                continue
            meta = self.read_meta(bucket, key)
            file.unlink()
            self._meta_file(bucket, key).unlink(missing_ok=True)
            for parent in file.parents:
                if parent == self.root / bucket or any(parent.iterdir()):
                    break
                parent.rmdir()
            removed.append(
                {"bucket_id": bucket, "name": key, "id": meta.get("id"), "metadata": meta}
            )
        return Response.json(200, removed)

    def list(self, request: Request, bucket: str) -> Response:
        """One level under `prefix`: files with metadata, folders with null id (like Storage)."""
        if self._bucket(bucket) is None:
            return storage_error(404, "Bucket not found", "Bucket not found")
        try:
            body = request.json() or {}
        except ValueError:
            return storage_error(400, "InvalidRequest", "Invalid JSON body")
        prefix = str(body.get("prefix") or "").strip("/")
        limit = int(body.get("limit") or 100)
        offset = int(body.get("offset") or 0)
        search = str(body.get("search") or "")
        folder = self.root / bucket / prefix if prefix else self.root / bucket
        entries: list[dict[str, Any]] = []
        if folder.is_dir():
            for child in sorted(folder.iterdir(), key=lambda p: p.name):
                if child.name.startswith(".") or (search and search not in child.name):
                    continue
                if child.is_dir():
                    entries.append(
                        {
                            "name": child.name,
                            "id": None,
                            "updated_at": None,
                            "created_at": None,
                            "last_accessed_at": None,
                            "metadata": None,
                        }
                    )
                else:
                    key = f"{prefix}/{child.name}" if prefix else child.name
                    meta = self.read_meta(bucket, key)
                    entries.append(
                        {
                            "name": child.name,
                            "id": meta.get("id"),
                            "updated_at": meta.get("updated_at"),
                            "created_at": meta.get("created_at"),
                            "last_accessed_at": meta.get("updated_at"),
                            "metadata": {
                                "size": child.stat().st_size,
                                "mimetype": meta.get("mimetype"),
                                "cacheControl": meta.get("cacheControl"),
                            },
                        }
                    )
        return Response.json(200, entries[offset : offset + limit])
