"""PostgresQueue: thin calls of the contract's SQL functions through a psycopg pool."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from daemon.adapters.postgres.pool import new_pool, refusal
from daemon.domain.errors import CredentialsRefused, first_line
from daemon.ports import ClaimedJob, QueueUnavailable

# Seconds one call may take before it counts as a lost connection.
STATEMENT_TIMEOUT_MS = 15_000


class PostgresQueue:
    """JobQueue over psycopg 3. Database errors surface as QueueUnavailable (the caller retries)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, *, max_size: int = 4) -> PostgresQueue:
        """Open a pool and prove the database answers; raise QueueUnavailable if it does not."""
        # One plain connection first: its error says why (refused, wrong password, no such
        # database), where the pool would only say that it timed out.
        try:
            probe = await psycopg.AsyncConnection.connect(dsn, connect_timeout=5)
        except psycopg.Error as exc:
            raise QueueUnavailable(f"Cannot connect to the database ({first_line(exc)}).") from None
        await probe.close()
        pool = new_pool(
            dsn,
            max_size=max_size,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                "connect_timeout": 5,
                "application_name": "vehicle-photo-daemon",
            },
        )
        try:
            await pool.open(wait=True, timeout=10)
        except (PoolTimeout, psycopg.Error) as exc:
            await pool.close()
            raise QueueUnavailable(f"Cannot connect to the database ({first_line(exc)}).") from None
        return cls(pool)

    async def _call(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            async with self._pool.connection(timeout=10) as conn, conn.cursor() as cur:
                await cur.execute(sql, params)
                return await cur.fetchall() if cur.description else []
        except PoolTimeout as exc:
            refused = refusal(self._pool)
            if refused is not None:
                # A password changed or revoked while running: no outage to wait out.
                raise CredentialsRefused(
                    f"The database refused the daemon's credentials ({refused}); fix "
                    "DATABASE_URL or the role's password."
                ) from None
            raise QueueUnavailable(f"The database did not answer ({first_line(exc)}).") from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise QueueUnavailable(f"The database did not answer ({first_line(exc)}).") from None

    async def claim(self, worker_id: str, max_jobs: int, lease_seconds: int) -> list[ClaimedJob]:
        rows = await self._call(
            "select * from claim_processing_jobs(worker_id => %(w)s, max_jobs => %(n)s,"
            " lease_seconds => %(l)s)",
            {"w": worker_id, "n": max_jobs, "l": lease_seconds},
        )
        return [ClaimedJob.from_row(row) for row in rows]

    async def heartbeat(
        self,
        job_id: UUID,
        lease_token: UUID,
        lease_seconds: int,
        stage: str | None = None,
        progress: int | None = None,
    ) -> bool:
        rows = await self._call(
            "select heartbeat_processing_job(job_id => %(j)s, lease_token => %(t)s,"
            " lease_seconds => %(l)s, stage => %(s)s, progress => %(p)s) as ok",
            {"j": job_id, "t": lease_token, "l": lease_seconds, "s": stage, "p": progress},
        )
        return bool(rows and rows[0]["ok"])

    async def complete(self, job_id: UUID, lease_token: UUID, result: dict[str, Any]) -> bool:
        rows = await self._call(
            "select complete_processing_job(job_id => %(j)s, lease_token => %(t)s,"
            " result => %(r)s) as ok",
            {"j": job_id, "t": lease_token, "r": Jsonb(result)},
        )
        return bool(rows and rows[0]["ok"])

    async def fail(
        self,
        job_id: UUID,
        lease_token: UUID,
        error: dict[str, Any],
        retryable: bool,
        retry_delay_seconds: int | None = None,
    ) -> str | None:
        rows = await self._call(
            "select fail_processing_job(job_id => %(j)s, lease_token => %(t)s, error => %(e)s,"
            " retryable => %(r)s, retry_delay_seconds => %(d)s) as status",
            {
                "j": job_id,
                "t": lease_token,
                "e": Jsonb(error),
                "r": retryable,
                "d": retry_delay_seconds,
            },
        )
        return rows[0]["status"] if rows else None

    async def release(self, job_id: UUID, lease_token: UUID) -> bool:
        rows = await self._call(
            "select release_processing_job(job_id => %(j)s, lease_token => %(t)s) as ok",
            {"j": job_id, "t": lease_token},
        )
        return bool(rows and rows[0]["ok"])

    async def preset(self, name: str) -> dict[str, Any] | None:
        rows = await self._call(
            "select options from public.processing_presets where name = %(n)s", {"n": name}
        )
        return dict(rows[0]["options"]) if rows else None

    async def ping(self) -> None:
        await self._call("select 1", {})

    async def queue_depth(self) -> dict[str, int] | None:
        rows = await self._call(
            "select status, count(*)::int as n from processing_jobs group by status", {}
        )
        return {row["status"]: row["n"] for row in rows}

    async def aclose(self) -> None:
        await self._pool.close()
