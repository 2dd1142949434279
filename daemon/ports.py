"""Every port, in one place. Adapters live in `daemon.adapters`.

- `JobQueue`: the contract's state functions (claim, heartbeat, complete, fail, release);
- `ObjectStore`: buckets of objects (originals, outputs, the removal cache);
- `Wakeups`: hints that work may be there, and which claims a cancel or requeue ended;
- `BackgroundRemover`: the provider call (defined beside the pipeline that uses it);
- `JobAdmin`: the admin side (`enqueue`, `status`): queue a job, summarise the queue.

The lifecycle knows these Protocols only; Postgres, Supabase, the filesystem, memory and API4.ai
are adapters behind them, each tested against its protocol (tests/integration/conformance).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

from daemon.domain.errors import QueueUnavailable
from daemon.pipeline.removal import BackgroundRemover

__all__ = [
    "BackgroundRemover",
    "ClaimedJob",
    "Hint",
    "JobAdmin",
    "JobChange",
    "JobQueue",
    "ObjectStore",
    "QueueSummary",
    "QueueUnavailable",
    "Wakeups",
]


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A row returned by claim_processing_jobs: what a worker needs to run one claim."""

    id: UUID
    lease_token: UUID
    source_bucket: str
    source_path: str
    options: Any  # raw jsonb; validated by the pipeline's options model
    revision: int
    attempts: int
    max_attempts: int
    vehicle_id: str | None = None
    priority: int = 0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ClaimedJob:
        known = {
            "id": UUID(str(row["id"])),
            "lease_token": UUID(str(row["lease_token"])),
            "source_bucket": row["source_bucket"],
            "source_path": row["source_path"],
            "options": row.get("options") or {},
            "revision": int(row.get("revision") or 0),
            "attempts": int(row.get("attempts") or 0),
            "max_attempts": int(row.get("max_attempts") or 1),
            "vehicle_id": row.get("vehicle_id"),
            "priority": int(row.get("priority") or 0),
        }
        return cls(**known)


class JobQueue(Protocol):
    """Thin calls of the contract's SQL functions (CONTRACT.md section 2).

    An outage raises `QueueUnavailable`, a refused key `CredentialsRefused` (daemon.domain.errors);
    anything else that escapes is a bug. A stale claim is an answer (False / None), not an
    exception.
    """

    async def claim(
        self, worker_id: str, max_jobs: int, lease_seconds: int
    ) -> list[ClaimedJob]: ...

    async def heartbeat(
        self,
        job_id: UUID,
        lease_token: UUID,
        lease_seconds: int,
        stage: str | None = None,
        progress: int | None = None,
    ) -> bool: ...

    async def complete(self, job_id: UUID, lease_token: UUID, result: dict[str, Any]) -> bool: ...

    async def fail(
        self,
        job_id: UUID,
        lease_token: UUID,
        error: dict[str, Any],
        retryable: bool,
        retry_delay_seconds: int | None = None,
    ) -> str | None: ...

    async def release(self, job_id: UUID, lease_token: UUID) -> bool: ...

    async def preset(self, name: str) -> dict[str, Any] | None:
        """The options of the processing_presets row `name` (section 1b), None when none."""
        ...

    async def ping(self) -> None:
        """Raise when the queue cannot be reached (used by /health)."""
        ...

    async def queue_depth(self) -> dict[str, int] | None:
        """Counts per status where that is cheap for the backend, else None."""
        ...

    async def aclose(self) -> None: ...


class ObjectStore(Protocol):
    """Buckets of objects (Supabase Storage, or folders on disk)."""

    async def get(self, bucket: str, path: str) -> bytes:
        """The object's bytes. Raises SourceNotFound when it does not exist, StorageFailed for an
        outage, CredentialsRefused for a refused key."""
        ...

    async def put(
        self,
        bucket: str,
        path: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
    ) -> None:
        """Create or replace the object (upsert); atomic for readers."""
        ...

    async def delete(self, bucket: str, paths: list[str]) -> None:
        """Remove objects; missing ones are not an error."""
        ...

    async def list(self, bucket: str, prefix: str) -> list[str]:
        """Object paths directly or indirectly under `prefix` (a folder, no trailing slash)."""
        ...

    async def version(self, bucket: str, path: str) -> str | None:
        """A tag that changes whenever the object is replaced; None when it does not exist."""
        ...

    def public_url(self, bucket: str, path: str) -> str: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class JobChange:
    """A job that a hint source saw cancelled or requeued.

    `revision` is the row's revision after the change when the source says it (Realtime sends
    the row), None when it does not (NOTIFY sends only the ids of cancelled rows).
    """

    job_id: UUID
    status: Literal["queued", "cancelled"]
    revision: int | None = None

    @classmethod
    def of_record(cls, record: Any) -> JobChange | None:
        """The change a row sent by a hint source says, when it was cancelled or requeued.

        Realtime and Database Webhooks both send the new row; a row over Realtime's size limit
        comes trimmed to its id and status, so the revision may be missing (then the heartbeat
        decides). Anything else, or a row that is not a job's, says nothing.
        """
        if not isinstance(record, dict):
            return None
        status = record.get("status")
        if status not in ("queued", "cancelled"):
            return None
        try:
            job_id = UUID(str(record.get("id")))
        except ValueError:
            return None
        revision = record.get("revision")
        is_int = isinstance(revision, int) and not isinstance(revision, bool)
        return cls(job_id, status, revision if is_int else None)

    def verdict(self, claimed_revision: int) -> Literal["stale", "check", "ignore"]:
        """What this change says of a claim of the job at `claimed_revision`.

        stale: the claim is over for sure (cancelled at its revision, or requeued past it);
        ignore: the change is older than the claim; check: ask the heartbeat, the only truth.
        """
        if self.revision is None:
            return "check"
        if self.revision < claimed_revision:
            return "ignore"
        if self.status == "cancelled" or self.revision > claimed_revision:
            return "stale"
        return "check"  # queued at the claim's own revision: a release or a rescue's retry


@dataclass(frozen=True, slots=True)
class Hint:
    """One wake-up: there may be work, and these jobs were cancelled or requeued."""

    reason: str  # "insert", "queued", "cancelled", "resubscribed", "notify", ...
    changes: tuple[JobChange, ...] = ()
    # Jobs were requeued but the source does not name them (NOTIFY): every claim in flight
    # asks its heartbeat at once whether it is still current.
    unnamed_requeues: bool = False


class Wakeups(Protocol):
    """Hints that there may be work: an async stream, never the source of truth."""

    def hints(self) -> AsyncIterator[Hint]:
        """Yields one Hint per wake-up; a source ends or reconnects on its own outages."""
        ...

    async def healthy(self) -> bool:
        """Whether the hint source is connected right now (for /health details, not its status)."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class QueueSummary:
    """The queue at a glance, as `status` prints it."""

    counts: dict[str, int]
    oldest_queued_seconds: float | None
    workers: dict[str, int]  # worker id -> live leases
    last_failures: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)


class JobAdmin(Protocol):
    """What the admin UI does, for `enqueue`, `status` and `demo`: insert jobs, look at them."""

    async def insert_job(
        self,
        *,
        source_bucket: str,
        source_path: str,
        vehicle_id: str | None,
        options: dict[str, Any],
        priority: int = 0,
    ) -> str:
        """Queue one job; returns its id."""
        ...

    async def summary(self, *, job_ids: list[str] | None = None) -> QueueSummary:
        """Counts per status, oldest queued age, live workers, last failures (and `job_ids`)."""
        ...


@dataclass
class Backend:
    """The three ports one daemon process talks to, as the adapters for them were opened."""

    name: str
    queue: JobQueue
    store: ObjectStore
    wakeups: Wakeups

    async def aclose(self) -> None:
        # Close all three even when one fails: shutdown must not leak connections.
        for closer in (self.wakeups.aclose, self.store.aclose, self.queue.aclose):
            with contextlib.suppress(Exception):
                await closer()
