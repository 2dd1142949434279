"""A memory budget in pixels in flight, whatever the concurrency.

Decoded images dominate a worker's memory (a 48 MP RGBA image is 192 MB before any copy), so jobs
wait for room in the budget before decoding. An image larger than the whole budget still runs, but
alone, so no image is refused for the budget's sake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from daemon.app import metrics


class PixelBudget:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0
        self._changed = anyio.Condition()

    @asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        need = max(1, min(pixels, self.capacity))
        async with self._changed:
            while self.in_use + need > self.capacity:
                await self._changed.wait()
            self.in_use += need
            self.peak = max(self.peak, self.in_use)
            metrics.pixels_in_flight.set(self.in_use)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                async with self._changed:
                    self.in_use -= need
                    metrics.pixels_in_flight.set(self.in_use)
                    self._changed.notify_all()
