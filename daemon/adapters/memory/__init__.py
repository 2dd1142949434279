"""The in-memory backend: queue, store, wake-ups, admin and remover with the contract's
semantics (leases, fencing by lease_token, revisions, requeue and cancel, rescue of expired
leases, backoff on retryable failures), for lifecycle tests that run in seconds without a
database, and as the reference the conformance suite holds every adapter to."""

from __future__ import annotations

from daemon.adapters import Backend
from daemon.adapters.memory.queue import MemoryAdmin, MemoryQueue
from daemon.adapters.memory.remover import MemoryRemover
from daemon.adapters.memory.store import MemoryStore
from daemon.adapters.memory.table import MemoryTable
from daemon.adapters.memory.wakeups import MemoryWakeups

__all__ = [
    "MemoryAdmin",
    "MemoryQueue",
    "MemoryRemover",
    "MemoryStore",
    "MemoryTable",
    "MemoryWakeups",
    "memory_backend",
]


def memory_backend(table: MemoryTable | None = None, *, wakeups: bool = True) -> Backend:
    """A Backend whose three adapters share one MemoryTable (a new one when none is given)."""
    from daemon.adapters import PollOnly

    table = table or MemoryTable()
    return Backend(
        name="memory",
        queue=MemoryQueue(table),
        store=MemoryStore(),
        wakeups=MemoryWakeups(table) if wakeups else PollOnly(),
    )
