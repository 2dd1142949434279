"""Adapters behind the ports: Postgres + a folder (runs anywhere), and Supabase (production)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from daemon.ports import Backend, Hint

__all__ = ["Backend", "PollOnly"]  # Backend re-exported: the adapters build it


class PollOnly:
    """Wakeups that never come: the worker relies on its poll alone (WAKEUPS_ENABLED=false)."""

    async def hints(self) -> AsyncIterator[Hint]:
        await anyio.sleep_forever()
        yield Hint("never")  # pragma: no cover - makes this an async generator

    async def healthy(self) -> bool:
        return False

    async def aclose(self) -> None:
        return None
