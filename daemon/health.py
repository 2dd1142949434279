"""What `/health` reports: the worker loop turns, the queue answers, the wake-ups listen.

Only the state, computed in well under a second whatever the network does: every check that
waits on something outside the process is bounded, so behind a black hole `/health` says 503 and
why instead of timing out. Serving it over HTTP is `daemon.http_port`'s job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from daemon.jobs.worker import Worker

__all__ = ["QUEUE_TIMEOUT_SECONDS", "WAKEUPS_TIMEOUT_SECONDS", "HealthCheck", "HealthReport"]

# The queue's answer to a ping, and the wake-ups' own view of themselves, are awaited this long
# at most: together well inside the 1 s a health check may take.
QUEUE_TIMEOUT_SECONDS = 0.6
WAKEUPS_TIMEOUT_SECONDS = 0.2


@dataclass(frozen=True)
class HealthReport:
    """200 with the details while healthy; 503 with the reason otherwise."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


class HealthCheck:
    """The health of one worker, as `/health` reports it."""

    def __init__(self, worker: Worker, *, stall_after: float | None = None) -> None:
        self.worker = worker
        # The loop ticks at least once per poll interval; three missed ticks is a stall.
        self.stall_after = stall_after or max(15.0, worker.config.poll_interval * 3 + 5)

    async def report(self) -> HealthReport:
        worker = self.worker
        details: dict[str, Any] = {"worker": worker.worker_id, "active_jobs": len(worker.active)}
        if worker.health.queue_error:
            details["last_claim_error"] = worker.health.queue_error
        problem: str | None = None
        if worker.health.stopping:
            problem = "shutting down"
        elif time.monotonic() - worker.health.last_tick > self.stall_after:
            problem = "the worker loop has stalled"
        else:
            problem = await self._queue_problem()
        details["wakeups"] = "connected" if await self._wakeups_connected() else "polling"
        if problem:
            return HealthReport(503, {"status": "unhealthy", "reason": problem, **details})
        return HealthReport(200, {"status": "healthy", **details})

    async def _queue_problem(self) -> str | None:
        try:
            with anyio.fail_after(QUEUE_TIMEOUT_SECONDS):
                await self.worker.backend.queue.ping()
        except TimeoutError:
            return f"queue unreachable: no answer within {QUEUE_TIMEOUT_SECONDS:g} s"
        except Exception as exc:
            return f"queue unreachable: {exc or type(exc).__name__}"
        return None

    async def _wakeups_connected(self) -> bool:
        try:
            with anyio.fail_after(WAKEUPS_TIMEOUT_SECONDS):
                return await self.worker.backend.wakeups.healthy()
        except Exception:
            return False
