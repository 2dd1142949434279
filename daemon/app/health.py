"""What `/health` reports: the worker loop turns, the queue answers with the key, the wake-ups
listen.

Only the state, computed in well under a second whatever the network does: every check that
waits on something outside the process is bounded, so behind a black hole `/health` says 503 and
why instead of timing out. The worker's side of the state (a refused key, the last claim error)
is `daemon.lifecycle.health_state`; serving it over HTTP is `daemon.app.http_port`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daemon.lifecycle.health_state import assess
from daemon.lifecycle.worker import Worker

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
        self.stall_after = stall_after or max(15.0, worker.settings.poll_interval_seconds * 3 + 5)

    async def report(self) -> HealthReport:
        worker = self.worker
        status, body = await assess(
            worker.health,
            worker.backend.queue,
            worker.backend.wakeups,
            stall_after=self.stall_after,
            details={"worker": worker.worker_id, "active_jobs": len(worker.active)},
            ping_timeout=QUEUE_TIMEOUT_SECONDS,
            wakeups_timeout=WAKEUPS_TIMEOUT_SECONDS,
        )
        return HealthReport(status, body)
