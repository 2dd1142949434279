"""MemoryTable: `processing_jobs` and its state functions in memory, for tests and examples.

It keeps the contract's semantics (CONTRACT.md section 2) as the SQL does: claims in priority,
run_after, creation order; a new lease token per claim fencing every later write; leases that
expire and are rescued by the next claim (or failed with lease_expired when no attempts are
left); retryable failures back to queued after a backoff; release without counting the attempt;
requeue (a new revision, a fresh start) and cancel as people do them with plain SQL. Every
change a trigger would announce is offered to the listeners as a Hint.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from daemon.ports import ClaimedJob, Hint, JobChange

# The SQL's backoff: about 10 s, 20 s, 40 s ... at most 15 min, with +-20 % jitter.
RETRY_BASE_SECONDS = 10.0
RETRY_CAP_SECONDS = 900.0


def retry_delay(attempt: int, rng: random.Random) -> float:
    """processing_jobs_retry_delay(attempt) of the migrations."""
    base = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2.0 ** (max(min(attempt, 20), 1) - 1))
    return min(RETRY_CAP_SECONDS, base * (0.8 + rng.random() * 0.4))


@dataclass
class JobRow:
    """One row of processing_jobs (times are seconds on the table's clock)."""

    id: uuid.UUID
    source_path: str
    source_bucket: str = "vehicle-photos"
    options: Any = field(default_factory=dict)
    priority: int = 0
    vehicle_id: str | None = None
    max_attempts: int = 3
    status: str = "queued"
    stage: str | None = None
    progress: int = 0
    attempts: int = 0
    revision: int = 0
    run_after: float = 0.0
    created: int = 0
    locked_by: str | None = None
    lease_token: uuid.UUID | None = None
    lease_expires_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MemoryTable:
    """The jobs table and its functions; one instance is one database."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, rng: random.Random | None = None
    ) -> None:
        self.clock = clock
        self.rng = rng or random.Random()
        self.rows: dict[uuid.UUID, JobRow] = {}
        self.presets: dict[str, dict[str, Any]] = {}  # processing_presets: name -> options
        self._created = 0
        self._listeners: list[Callable[[Hint], None]] = []

    # -- what people do (the admin UI, plain SQL) ------------------------------------------------

    def insert(self, source_path: str = "lot/car.jpg", **columns: Any) -> uuid.UUID:
        """Insert a queued job; returns its id."""
        self._created += 1
        now = self.clock()
        row = JobRow(
            id=uuid.uuid4(),
            source_path=source_path,
            run_after=now,
            created=self._created,
            updated_at=now,
            **columns,
        )
        self.rows[row.id] = row
        self._announce(Hint("insert"))
        return row.id

    def requeue(self, job_id: uuid.UUID, **changes: Any) -> None:
        """`update ... set status = 'queued'`: a new revision, a fresh start, from any status."""
        row = self.rows[job_id]
        for name, value in changes.items():
            setattr(row, name, value)
        row.revision += 1
        row.status, row.attempts, row.error = "queued", 0, None
        row.locked_by = row.lease_token = row.lease_expires_at = None
        row.stage, row.progress, row.run_after = None, 0, self.clock()
        row.started_at = row.finished_at = None
        self._touch(row)
        self._announce(Hint("queued", (JobChange(job_id, "queued", row.revision),)))

    def cancel(self, job_id: uuid.UUID) -> None:
        """`update ... set status = 'cancelled'`: only queued or processing jobs change."""
        row = self.rows[job_id]
        if row.status not in ("queued", "processing"):
            return
        row.status = "cancelled"
        row.locked_by = row.lease_token = row.lease_expires_at = None
        row.finished_at = self.clock()
        self._touch(row)
        self._announce(Hint("cancelled", (JobChange(job_id, "cancelled", row.revision),)))

    def listen(self, listener: Callable[[Hint], None]) -> Callable[[], None]:
        """Call `listener` with every hint from now on; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- the state functions ---------------------------------------------------------------------

    def claim(self, worker_id: str, max_jobs: int, lease_seconds: int) -> list[ClaimedJob]:
        now = self.clock()
        for row in self.rows.values():
            expired = row.status == "processing" and (row.lease_expires_at or 0) < now
            if expired and row.attempts >= row.max_attempts:
                row.status, row.finished_at = "failed", now
                row.error = _error(
                    "lease_expired",
                    "The worker processing this photo stopped responding and no attempts are "
                    "left; requeue it to try again.",
                    False,
                    row.attempts,
                )
                row.locked_by = row.lease_token = row.lease_expires_at = None
                self._touch(row)
        rescued = [
            r
            for r in self.rows.values()
            if r.status == "processing" and (r.lease_expires_at or 0) < now
        ]
        ready = [r for r in self.rows.values() if r.status == "queued" and r.run_after <= now]
        picked = sorted(rescued + ready, key=lambda r: (-r.priority, r.run_after, r.created))
        claimed = []
        for row in picked[:max_jobs]:
            if row.status == "processing":
                row.error = _error(
                    "lease_expired",
                    "The previous worker stopped responding; the photo is being processed again.",
                    True,
                    row.attempts,
                )
            row.status, row.locked_by, row.lease_token = "processing", worker_id, uuid.uuid4()
            row.lease_expires_at = now + lease_seconds
            row.attempts += 1
            row.started_at, row.stage, row.progress = now, "claimed", 0
            self._touch(row)
            claimed.append(ClaimedJob.from_row(row.as_dict()))
        return claimed

    def heartbeat(
        self,
        job_id: uuid.UUID,
        lease_token: uuid.UUID,
        lease_seconds: int,
        stage: str | None,
        progress: int | None,
    ) -> bool:
        row = self._current(job_id, lease_token)
        if row is None:
            return False
        row.lease_expires_at = self.clock() + lease_seconds
        row.stage = stage if stage is not None else row.stage
        row.progress = progress if progress is not None else row.progress
        self._touch(row)
        return True

    def complete(self, job_id: uuid.UUID, lease_token: uuid.UUID, result: dict[str, Any]) -> bool:
        row = self._current(job_id, lease_token)
        if row is None:
            return False
        row.status, row.result, row.error = "succeeded", result, None
        row.locked_by = row.lease_token = row.lease_expires_at = None
        row.stage, row.progress, row.finished_at = "done", 100, self.clock()
        self._touch(row)
        return True

    def fail(
        self,
        job_id: uuid.UUID,
        lease_token: uuid.UUID,
        error: dict[str, Any],
        retryable: bool,
        retry_delay_seconds: int | None,
    ) -> str | None:
        row = self._current(job_id, lease_token)
        if row is None:
            return None
        retry = retryable and row.attempts < row.max_attempts
        row.error = {
            **error,
            "code": error.get("code") or "internal_error",
            "message": error.get("message") or "The photo could not be processed.",
            "retryable": retryable,
            "attempt": row.attempts,
            "at": self.clock(),
        }
        row.locked_by = row.lease_token = row.lease_expires_at = None
        now = self.clock()
        if retry:
            delay = (
                float(retry_delay_seconds)
                if retry_delay_seconds is not None
                else retry_delay(row.attempts, self.rng)
            )
            row.status, row.run_after, row.progress = "queued", now + delay, 0
        else:
            row.status, row.finished_at = "failed", now
        self._touch(row)
        if retry:
            self._announce(Hint("queued", (JobChange(job_id, "queued", row.revision),)))
        return row.status

    def release(self, job_id: uuid.UUID, lease_token: uuid.UUID) -> bool:
        row = self._current(job_id, lease_token)
        if row is None:
            return False
        row.status, row.run_after = "queued", self.clock()
        row.attempts = max(row.attempts - 1, 0)
        row.locked_by = row.lease_token = row.lease_expires_at = None
        row.stage, row.progress = None, 0
        self._touch(row)
        self._announce(Hint("queued", (JobChange(job_id, "queued", row.revision),)))
        return True

    # -- helpers ---------------------------------------------------------------------------------

    def _current(self, job_id: uuid.UUID, lease_token: uuid.UUID) -> JobRow | None:
        """The row while `lease_token` is its current claim: the fence of every write."""
        row = self.rows.get(job_id)
        if row is None or row.status != "processing" or row.lease_token != lease_token:
            return None
        return row

    def _touch(self, row: JobRow) -> None:
        row.updated_at = self.clock()

    def _announce(self, hint: Hint) -> None:
        for listener in list(self._listeners):
            listener(hint)


def _error(code: str, message: str, retryable: bool, attempt: int) -> dict[str, Any]:
    return {"code": code, "message": message, "retryable": retryable, "attempt": attempt}
