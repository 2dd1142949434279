"""What people (and the CLI) do around the queue: queue jobs and look at the queue.

The daemon itself never writes the table directly (CONTRACT.md section 2); these are the admin
UI's writes, done from the command line with the backend's privileged connection.
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from daemon.app.settings import Settings, SettingsError
from daemon.domain.errors import first_line
from daemon.ports import JobAdmin, ObjectStore, QueueSummary, QueueUnavailable

__all__ = ["STATUSES", "JobAdmin", "PostgresAdmin", "QueueSummary", "SupabaseAdmin", "admin_for"]

STATUSES = ("queued", "processing", "succeeded", "failed", "cancelled")


def source_object_path(file: Path, vehicle_id: str | None) -> str:
    """Where an original goes in the source bucket: grouped by vehicle, never overwriting."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", file.name).strip("-") or "photo"
    folder = re.sub(r"[^A-Za-z0-9._-]+", "-", vehicle_id) if vehicle_id else "unsorted"
    return f"{folder}/{uuid.uuid4().hex[:12]}-{safe}"


def content_type_of(file: Path) -> str:
    return mimetypes.guess_type(file.name)[0] or "application/octet-stream"


async def enqueue_file(
    admin: JobAdmin,
    store: ObjectStore,
    bucket: str,
    file: Path,
    *,
    vehicle_id: str | None,
    options: dict[str, Any],
    priority: int = 0,
) -> str:
    """What the admin UI does for one photo: upload the original, then queue a job for it."""
    path = source_object_path(file, vehicle_id)
    data = await anyio.Path(file).read_bytes()
    await store.put(bucket, path, data, content_type=content_type_of(file))
    return await admin.insert_job(
        source_bucket=bucket,
        source_path=path,
        vehicle_id=vehicle_id,
        options=options,
        priority=priority,
    )


class PostgresAdmin:
    """Queue jobs and summarise the queue over a direct Postgres connection."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    async def _connect(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        try:
            return await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, row_factory=dict_row, connect_timeout=5
            )
        except psycopg.Error as exc:
            raise QueueUnavailable(f"Cannot connect to the database ({first_line(exc)}).") from None

    async def insert_job(
        self,
        *,
        source_bucket: str,
        source_path: str,
        vehicle_id: str | None,
        options: dict[str, Any],
        priority: int = 0,
    ) -> str:
        async with await self._connect() as conn:
            cur = await conn.execute(
                "insert into processing_jobs (vehicle_id, source_bucket, source_path, options,"
                " priority) values (%s, %s, %s, %s, %s) returning id",
                (vehicle_id, source_bucket, source_path, Jsonb(options), priority),
            )
            row = await cur.fetchone()
            assert row is not None
            return str(row["id"])

    async def summary(self, *, job_ids: list[str] | None = None) -> QueueSummary:
        async with await self._connect() as conn:
            counts = {s: 0 for s in STATUSES}
            for row in await (
                await conn.execute("select status, count(*)::int n from processing_jobs group by 1")
            ).fetchall():
                counts[row["status"]] = row["n"]
            oldest = await (
                await conn.execute(
                    "select extract(epoch from now() - min(updated_at))::float8 s"
                    " from processing_jobs where status = 'queued'"
                )
            ).fetchone()
            workers = {
                row["locked_by"]: row["n"]
                for row in await (
                    await conn.execute(
                        "select locked_by, count(*)::int n from processing_jobs"
                        " where status = 'processing' and lease_expires_at > now() group by 1"
                        " order by 1"
                    )
                ).fetchall()
            }
            failures = await (
                await conn.execute(
                    "select id::text, source_path, error->>'code' code, error->>'message' message,"
                    " finished_at from processing_jobs where status = 'failed'"
                    " order by finished_at desc nulls last limit 5"
                )
            ).fetchall()
            jobs: list[dict[str, Any]] = []
            if job_ids:
                jobs = await (
                    await conn.execute(
                        "select id::text, source_path, status, stage, progress, attempts, error,"
                        " result from processing_jobs where id = any(%s::uuid[])"
                        " order by created_at, id",
                        (job_ids,),
                    )
                ).fetchall()
        return QueueSummary(
            counts=counts,
            oldest_queued_seconds=oldest["s"] if oldest else None,
            workers=workers,
            last_failures=failures,
            jobs=jobs,
        )


class SupabaseAdmin:
    """The same through PostgREST with the service-role key (what the admin UI does as an admin)."""

    def __init__(self, url: str, service_key: str) -> None:
        self._url = url
        self._key = service_key

    @asynccontextmanager
    async def _jobs(self) -> AsyncIterator[Callable[[], Any]]:
        """Fresh request builders on the processing_jobs table, from a client closed afterwards."""
        from postgrest.exceptions import APIError

        from daemon.adapters.supabase import RPC_TIMEOUT, make_client
        from daemon.adapters.supabase.errors import (
            NETWORK_ERRORS,
            SupabaseQueueError,
            classify_api_error,
            classify_network_error,
        )

        client = make_client(self._url, self._key, RPC_TIMEOUT)
        try:
            yield lambda: client.table("processing_jobs")
        except APIError as exc:
            # One sentence for the person at the terminal: unreachable, wrong key, or refused.
            error = classify_api_error(exc, call="processing_jobs")
            if isinstance(error, SupabaseQueueError):
                raise QueueUnavailable(str(error)) from None
            raise error from None
        except NETWORK_ERRORS as exc:
            raise classify_network_error(exc, call="processing_jobs") from None
        finally:
            await client.postgrest.aclose()

    async def insert_job(
        self,
        *,
        source_bucket: str,
        source_path: str,
        vehicle_id: str | None,
        options: dict[str, Any],
        priority: int = 0,
    ) -> str:
        async with self._jobs() as jobs:
            response = (
                await jobs()
                .insert(
                    {
                        "source_bucket": source_bucket,
                        "source_path": source_path,
                        "vehicle_id": vehicle_id,
                        "options": options,
                        "priority": priority,
                    }
                )
                .execute()
            )
        return str(response.data[0]["id"])

    async def summary(self, *, job_ids: list[str] | None = None) -> QueueSummary:
        async with self._jobs() as jobs:
            counts = {}
            for status in STATUSES:
                response = await (
                    jobs().select("id", count="exact", head=True).eq("status", status).execute()
                )
                counts[status] = int(response.count or 0)
            oldest = await (
                jobs()
                .select("updated_at")
                .eq("status", "queued")
                .order("updated_at")
                .limit(1)
                .execute()
            )
            oldest_seconds = None
            if oldest.data:
                since = datetime.fromisoformat(oldest.data[0]["updated_at"])
                oldest_seconds = (datetime.now(UTC) - since).total_seconds()
            live = await (
                jobs()
                .select("locked_by")
                .eq("status", "processing")
                .gt("lease_expires_at", datetime.now(UTC).isoformat())
                .execute()
            )
            workers: dict[str, int] = {}
            for row in live.data:
                workers[row["locked_by"]] = workers.get(row["locked_by"], 0) + 1
            failed = await (
                jobs()
                .select("id, source_path, error, finished_at")
                .eq("status", "failed")
                .order("finished_at", desc=True)
                .limit(5)
                .execute()
            )
            failures = [
                {
                    "id": row["id"],
                    "source_path": row["source_path"],
                    "code": (row.get("error") or {}).get("code"),
                    "message": (row.get("error") or {}).get("message"),
                    "finished_at": row.get("finished_at"),
                }
                for row in failed.data
            ]
            selected: list[dict[str, Any]] = []
            if job_ids:
                found = await (
                    jobs()
                    .select("id, source_path, status, stage, progress, attempts, error, result")
                    .in_("id", job_ids)
                    .order("created_at")
                    .execute()
                )
                selected = list(found.data)
        return QueueSummary(
            counts=counts,
            oldest_queued_seconds=oldest_seconds,
            workers=dict(sorted(workers.items())),
            last_failures=failures,
            jobs=selected,
        )


def admin_for(settings: Settings) -> JobAdmin:
    """The admin side of the backend the settings choose (as `run` chooses the daemon's)."""
    if settings.backend == "supabase":
        assert settings.supabase_url and settings.supabase_service_role_key
        return SupabaseAdmin(
            settings.supabase_url, settings.supabase_service_role_key.get_secret_value()
        )
    if settings.database_url is None:
        raise SettingsError("Set DATABASE_URL (or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY).")
    return PostgresAdmin(settings.database_url.get_secret_value())
