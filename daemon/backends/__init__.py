"""Adapters behind the ports: Postgres + a folder (runs anywhere), and Supabase (production)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from daemon.ports import JobQueue, ObjectStore, Wakeups


@dataclass
class Backend:
    """The three adapters one daemon process talks to."""

    name: str
    queue: JobQueue
    store: ObjectStore
    wakeups: Wakeups

    async def aclose(self) -> None:
        # Close all three even when one fails: shutdown must not leak connections.
        for closer in (self.wakeups.aclose, self.store.aclose, self.queue.aclose):
            with contextlib.suppress(Exception):
                await closer()
