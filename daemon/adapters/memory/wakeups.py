"""MemoryWakeups: the Wakeups port fed by a MemoryTable's changes, as a trigger would send them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio

from daemon.adapters.memory.table import MemoryTable
from daemon.ports import Hint

HINT_BUFFER = 1024


class MemoryWakeups:
    """Every insert, requeue and cancel of the table is a hint; a full buffer drops hints (they
    are hints: the poll catches up)."""

    def __init__(self, table: MemoryTable) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[Hint](HINT_BUFFER)
        self._closed = False
        self._stop = table.listen(self._offer)
        self._offer(Hint("resubscribed"))  # as the other sources do when they are ready

    def _offer(self, hint: Hint) -> None:
        dropped = (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError)
        with contextlib.suppress(*dropped):
            self._send.send_nowait(hint)

    def hints(self) -> AsyncIterator[Hint]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Hint]:
        try:
            while True:
                yield await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return

    async def healthy(self) -> bool:
        return not self._closed

    async def aclose(self) -> None:
        if not self._closed:
            self._stop()
        self._closed = True
        self._send.close()
