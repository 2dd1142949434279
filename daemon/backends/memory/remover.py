"""MemoryRemover: a BackgroundRemover without a provider, for tests of everything around one.

It answers a mask that keeps every pixel of the upload (the shape of a real answer: an L PNG of
the upload's size), counts its calls, and can be told to fail or to take its time.
"""

from __future__ import annotations

import io

import anyio
from PIL import Image

from daemon.errors import ProcessingError
from daemon.pipeline.options import ProcessingOptions
from daemon.pipeline.removal import Removal, RemovalPlan


class MemoryRemover:
    """BackgroundRemover in memory: `calls`, `delay`, and `fail_with` for the next calls."""

    provider = "memory"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self.fail_with: list[ProcessingError] = []

    def plan(self, options: ProcessingOptions) -> RemovalPlan | None:
        if not options.remove_background:
            return None
        return RemovalPlan(provider=self.provider, mode="mask", max_upload_side=1024)

    async def remove(self, upload: bytes, plan: RemovalPlan) -> Removal:
        self.calls += 1
        await anyio.sleep(self.delay)
        if self.fail_with:
            raise self.fail_with.pop(0)
        with Image.open(io.BytesIO(upload)) as image:
            size = image.size
        out = io.BytesIO()
        Image.new("L", size, 255).save(out, format="PNG")
        return Removal(kind="mask", png=out.getvalue(), provider=self.provider, mode=plan.mode)

    async def aclose(self) -> None:
        return None
