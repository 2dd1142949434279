"""Adapters behind the ports: Postgres + a folder (runs anywhere), and Supabase (production)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from daemon.ports import Hint, JobQueue, ObjectStore, Wakeups


class PollOnly:
    """Wakeups that never come: the worker relies on its poll alone (WAKEUPS_ENABLED=false)."""

    async def hints(self) -> AsyncIterator[Hint]:
        await anyio.sleep_forever()
        yield Hint("never")  # pragma: no cover - makes this an async generator

    async def healthy(self) -> bool:
        return False

    async def aclose(self) -> None:
        return None


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
