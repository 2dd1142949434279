"""What /health reports about a worker, and the state behind it.

The worker loop records here whether it turns, what the queue last said, whether a service
refused the key, and whether it is shutting down; `assess` turns that into the answer of
/health (200 or 503 with the reason), whatever serves it over HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from loguru import logger

from daemon.domain.errors import CredentialsRefused
from daemon.ports import JobQueue, Wakeups

# A refused key is said in the log at most this often, however many calls it refuses.
KEY_REFUSED_LOG_SECONDS = 60.0
# /health's own ping of the queue gives up after this long.
PING_TIMEOUT_SECONDS = 3.0


@dataclass
class WorkerHealth:
    """The worker's state as /health reports it."""

    last_tick: float = field(default_factory=time.monotonic)
    queue_error: str | None = None
    stopping: bool = False
    #: Why a service refused the key; while set the worker claims nothing and probes the key.
    key_refused: str | None = None
    _key_logged_at: float | None = None

    def refuse_key(self, exc: CredentialsRefused) -> None:
        """A call was refused the key: pause claiming; say so once a minute, not once a call."""
        self.key_refused = str(exc)
        now = time.monotonic()
        if self._key_logged_at is None or now - self._key_logged_at >= KEY_REFUSED_LOG_SECONDS:
            self._key_logged_at = now
            logger.error("{} Claiming is paused until the key works again.", exc)

    def key_works(self) -> None:
        """A probe with the key succeeded: claiming resumes."""
        if self.key_refused is not None:
            logger.info("the key works again: claiming resumes")
        # The time of the last log line is kept, so a flapping key still logs once a minute.
        self.key_refused = None


async def assess(
    health: WorkerHealth,
    queue: JobQueue,
    wakeups: Wakeups,
    *,
    stall_after: float,
    details: dict[str, Any],
    ping_timeout: float = PING_TIMEOUT_SECONDS,
    wakeups_timeout: float = PING_TIMEOUT_SECONDS,
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of /health: 200 while the loop turns and the queue answers with
    the key, 503 with the reason otherwise."""
    body = dict(details)
    if health.queue_error:
        body["last_claim_error"] = health.queue_error
    problem: str | None = None
    if health.stopping:
        problem = "shutting down"
    elif time.monotonic() - health.last_tick > stall_after:
        problem = "the worker loop has stalled"
    elif health.key_refused is not None:
        problem = f"the key was refused: {health.key_refused}"
    else:
        try:
            with anyio.fail_after(ping_timeout):
                await queue.ping()
        except CredentialsRefused as exc:
            health.refuse_key(exc)
            problem = f"the key was refused: {exc}"
        except TimeoutError:
            problem = f"queue unreachable: no answer within {ping_timeout:g} s"
        except Exception as exc:
            problem = f"queue unreachable: {exc or type(exc).__name__}"
    try:
        with anyio.fail_after(wakeups_timeout):
            body["wakeups"] = "connected" if await wakeups.healthy() else "polling"
    except Exception:
        body["wakeups"] = "polling"
    if problem:
        return 503, {"status": "unhealthy", "reason": problem, **body}
    return 200, {"status": "healthy", **body}
