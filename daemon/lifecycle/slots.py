"""Worker threads for the pipeline's pure stretches: the short ones never wait behind renders.

A photo's pure steps run in two stretches: a short one (decode, what the remover is sent) and,
after the remover's answer, the long render. With one queue for both, a photo that was just
claimed waits behind the renders in flight before it may even go to the remover; the photos of
a busy worker then reach the remover, and come back from it, in waves, and the cores idle while
a wave waits on the network. So a stretch that leads to more I/O (`early`) has threads of its
own: its network wait overlaps the renders instead of following them. Measured with
bench/throughput.py (CHANGELOG): one shared queue, a priority queue and separate threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class PipelineSlots:
    """At most `size` renders at once, and apart from them at most `size` early stretches."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one pipeline slot")
        self.size = size
        self._renders = anyio.CapacityLimiter(size)
        self._early = anyio.CapacityLimiter(size)

    @property
    def busy(self) -> int:
        """Stretches running now (tests, metrics)."""
        return int(self._renders.borrowed_tokens + self._early.borrowed_tokens)

    async def run(self, func: Callable[[], T], *, early: bool) -> T:
        """`func` on a worker thread once its kind has a free slot. A cancelled caller stops
        waiting at once; a stretch already running is abandoned to finish on its own (the
        pipeline checks the claim between steps), and its slot goes to the next in line."""
        limiter = self._early if early else self._renders
        return await anyio.to_thread.run_sync(func, abandon_on_cancel=True, limiter=limiter)
