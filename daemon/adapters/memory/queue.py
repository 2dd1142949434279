"""MemoryQueue and MemoryAdmin: the JobQueue and JobAdmin ports over a MemoryTable."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio

from daemon.adapters.memory.table import MemoryTable
from daemon.domain.errors import QueueUnavailable
from daemon.ports import ClaimedJob, QueueSummary

STATUSES = ("queued", "processing", "succeeded", "failed", "cancelled")


class MemoryQueue:
    """JobQueue on a MemoryTable. `outage(n)` makes the next n calls raise QueueUnavailable, as
    a database that went away would; `calls` counts the calls per function."""

    def __init__(self, table: MemoryTable) -> None:
        self.table = table
        self.calls: dict[str, int] = {}
        self._outage = 0

    def outage(self, calls: int) -> None:
        """The next `calls` calls fail as an outage."""
        self._outage = calls

    async def _enter(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        await anyio.lowlevel.checkpoint()  # a call is a suspension point, as over a network
        if self._outage > 0:
            self._outage -= 1
            raise QueueUnavailable(f"The in-memory queue is down for {name}.")

    async def claim(self, worker_id: str, max_jobs: int, lease_seconds: int) -> list[ClaimedJob]:
        await self._enter("claim")
        return self.table.claim(worker_id, max_jobs, lease_seconds)

    async def heartbeat(
        self,
        job_id: UUID,
        lease_token: UUID,
        lease_seconds: int,
        stage: str | None = None,
        progress: int | None = None,
    ) -> bool:
        await self._enter("heartbeat")
        return self.table.heartbeat(job_id, lease_token, lease_seconds, stage, progress)

    async def complete(self, job_id: UUID, lease_token: UUID, result: dict[str, Any]) -> bool:
        await self._enter("complete")
        return self.table.complete(job_id, lease_token, result)

    async def fail(
        self,
        job_id: UUID,
        lease_token: UUID,
        error: dict[str, Any],
        retryable: bool,
        retry_delay_seconds: int | None = None,
    ) -> str | None:
        await self._enter("fail")
        return self.table.fail(job_id, lease_token, error, retryable, retry_delay_seconds)

    async def release(self, job_id: UUID, lease_token: UUID) -> bool:
        await self._enter("release")
        return self.table.release(job_id, lease_token)

    async def preset(self, name: str) -> dict[str, Any] | None:
        await self._enter("preset")
        found = self.table.presets.get(name)
        return dict(found) if found is not None else None

    async def ping(self) -> None:
        await self._enter("ping")

    async def queue_depth(self) -> dict[str, int] | None:
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.table.rows.values():
            counts[row.status] += 1
        return counts

    async def aclose(self) -> None:
        return None


class MemoryAdmin:
    """JobAdmin on a MemoryTable."""

    def __init__(self, table: MemoryTable) -> None:
        self.table = table

    async def insert_job(
        self,
        *,
        source_bucket: str,
        source_path: str,
        vehicle_id: str | None,
        options: dict[str, Any],
        priority: int = 0,
    ) -> str:
        job_id = self.table.insert(
            source_path,
            source_bucket=source_bucket,
            vehicle_id=vehicle_id,
            options=options,
            priority=priority,
        )
        return str(job_id)

    async def summary(self, *, job_ids: list[str] | None = None) -> QueueSummary:
        rows = list(self.table.rows.values())
        now = self.table.clock()
        counts = dict.fromkeys(STATUSES, 0)
        workers: dict[str, int] = {}
        for row in rows:
            counts[row.status] += 1
            if row.status == "processing" and row.locked_by and (row.lease_expires_at or 0) > now:
                workers[row.locked_by] = workers.get(row.locked_by, 0) + 1
        queued = [r.updated_at for r in rows if r.status == "queued"]
        failed = sorted(
            (r for r in rows if r.status == "failed"),
            key=lambda r: r.finished_at or 0,
            reverse=True,
        )[:5]
        wanted = {UUID(i) for i in job_ids or []}
        return QueueSummary(
            counts=counts,
            oldest_queued_seconds=now - min(queued) if queued else None,
            workers=dict(sorted(workers.items())),
            last_failures=[
                {
                    "id": str(r.id),
                    "source_path": r.source_path,
                    "code": (r.error or {}).get("code"),
                    "message": (r.error or {}).get("message"),
                    "finished_at": r.finished_at,
                }
                for r in failed
            ],
            jobs=[
                {**r.as_dict(), "id": str(r.id)}
                for r in sorted(rows, key=lambda r: r.created)
                if r.id in wanted
            ],
        )
