"""SupabaseQueue: the contract's SQL functions called as PostgREST RPC with named arguments."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from postgrest.exceptions import APIError
from supabase import AsyncClient

from daemon.adapters.supabase.errors import (
    NETWORK_ERRORS,
    classify_api_error,
    classify_network_error,
)
from daemon.ports import ClaimedJob

# A lease token nobody holds: heartbeating it is a cheap, side-effect-free call that proves the
# URL, the key and the migrations (the function exists and service_role may execute it).
_NIL = "00000000-0000-0000-0000-000000000000"


class SupabaseQueue:
    """JobQueue over supabase-py's PostgREST client (the client's httpx timeouts apply)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _call(self, fn: str, params: dict[str, Any]) -> Any:
        # Only the libraries' own exceptions are mapped; anything else (a TypeError from a value
        # that is not JSON, say) is a bug and propagates as one.
        try:
            response = await self._client.rpc(fn, params).execute()
        except APIError as exc:
            raise classify_api_error(exc, call=fn) from None
        except NETWORK_ERRORS as exc:
            raise classify_network_error(exc, call=fn) from None
        return response.data

    async def claim(self, worker_id: str, max_jobs: int, lease_seconds: int) -> list[ClaimedJob]:
        """Claim up to max_jobs jobs for this worker."""
        data = await self._call(
            "claim_processing_jobs",
            {"worker_id": worker_id, "max_jobs": max_jobs, "lease_seconds": lease_seconds},
        )
        return [ClaimedJob.from_row(row) for row in data or []]

    async def heartbeat(
        self,
        job_id: UUID,
        lease_token: UUID,
        lease_seconds: int,
        stage: str | None = None,
        progress: int | None = None,
    ) -> bool:
        """Extend the lease; False means the claim is over."""
        data = await self._call(
            "heartbeat_processing_job",
            {
                "job_id": str(job_id),
                "lease_token": str(lease_token),
                "lease_seconds": lease_seconds,
                "stage": stage,
                "progress": progress,
            },
        )
        return data is True

    async def complete(self, job_id: UUID, lease_token: UUID, result: dict[str, Any]) -> bool:
        """Mark the current claim succeeded with its result; False for a stale claim."""
        data = await self._call(
            "complete_processing_job",
            {"job_id": str(job_id), "lease_token": str(lease_token), "result": result},
        )
        return data is True

    async def fail(
        self,
        job_id: UUID,
        lease_token: UUID,
        error: dict[str, Any],
        retryable: bool,
        retry_delay_seconds: int | None = None,
    ) -> str | None:
        """Record a failed attempt; the new status, or None for a stale claim."""
        data = await self._call(
            "fail_processing_job",
            {
                "job_id": str(job_id),
                "lease_token": str(lease_token),
                "error": error,
                "retryable": retryable,
                "retry_delay_seconds": retry_delay_seconds,
            },
        )
        return data if isinstance(data, str) else None

    async def release(self, job_id: UUID, lease_token: UUID) -> bool:
        """Give the job back (graceful shutdown); False for a stale claim."""
        data = await self._call(
            "release_processing_job", {"job_id": str(job_id), "lease_token": str(lease_token)}
        )
        return data is True

    async def preset(self, name: str) -> dict[str, Any] | None:
        """The preset's options, read through PostgREST (the service role may read presets)."""
        try:
            response = await (
                self._client.table("processing_presets")
                .select("options")
                .eq("name", name)
                .limit(1)
                .execute()
            )
        except APIError as exc:
            raise classify_api_error(exc, call="processing_presets") from None
        except NETWORK_ERRORS as exc:
            raise classify_network_error(exc, call="processing_presets") from None
        rows = response.data if isinstance(response.data, list) else []
        first = rows[0] if rows else None
        options = first.get("options") if isinstance(first, dict) else None
        return dict(options) if isinstance(options, dict) else None

    async def ping(self) -> None:
        """One cheap RPC that changes nothing; raises QueueUnavailable or SupabaseAuthError."""
        await self._call("heartbeat_processing_job", {"job_id": _NIL, "lease_token": _NIL})

    async def queue_depth(self) -> dict[str, int] | None:
        """Counting per status through PostgREST is not cheap: None."""
        return None

    async def aclose(self) -> None:
        """Close the HTTP connections of the PostgREST client."""
        await self._client.postgrest.aclose()
