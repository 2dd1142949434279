"""MemoryRemover: a BackgroundRemover without a provider, for tests of everything around one.

It answers a mask of what is not backdrop (pixels that differ from the upload's top-left corner
colour, as a studio photo's wall), the shape of a real answer: an L PNG of the upload's size. It
counts its calls, and can be told to fail or to take its time.
"""

from __future__ import annotations

import io

import anyio
from PIL import Image, ImageChops

from daemon.domain.errors import ProcessingError
from daemon.domain.options import ProcessingOptions
from daemon.pipeline.removal import Removal, RemovalPlan, Upload


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

    async def remove(self, upload: Upload, plan: RemovalPlan) -> Removal:
        self.calls += 1
        await anyio.sleep(self.delay)
        if self.fail_with:
            raise self.fail_with.pop(0)
        with Image.open(io.BytesIO(upload.data)) as image:
            rgb = image.convert("RGB")
        backdrop = Image.new("RGB", rgb.size, rgb.getpixel((0, 0)))
        difference = ImageChops.difference(rgb, backdrop).convert("L")
        mask = difference.point(lambda d: 255 if d > 24 else 0)
        out = io.BytesIO()
        mask.save(out, format="PNG")
        return Removal(kind="mask", png=out.getvalue(), provider=self.provider, mode=plan.mode)

    async def aclose(self) -> None:
        return None
