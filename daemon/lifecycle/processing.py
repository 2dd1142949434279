"""The async glue between the pure pipeline and the ports: runs `PIPELINE` for one photo.

Shared by `python -m daemon process` and the job lifecycle. The I/O steps (download,
remove_background, upload) are performed by the caller's `PipelineIO`; each stretch of pure
steps between them is one trip to a worker thread (as few trips as the I/O allows: two), made by
the caller's `RunStretch`. A stretch after which the photo leaves for I/O and comes back for more
pure steps (the decode before the remover's call) is `early`: the job lifecycle gives those
threads of their own, so they never wait behind renders (`daemon.lifecycle.slots`). CPU work
never runs on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

import anyio.to_thread

from daemon.pipeline import (
    PIPELINE,
    Assets,
    Hooks,
    Limits,
    NoHooks,
    ProcessingOptions,
    Rendered,
    Step,
    Work,
    run_steps,
)
from daemon.pipeline.removal import BackgroundRemover
from daemon.pipeline.runner import enter, finish


class RunStretch(Protocol):
    """Runs one stretch of pure steps off the event loop. `early`: more pure steps follow the
    I/O step after it (the remover's call, then the render)."""

    def __call__(self, func: Callable[[], None], *, early: bool) -> Awaitable[None]: ...


async def in_worker_thread(func: Callable[[], None], *, early: bool) -> None:
    """The plain RunStretch: a worker thread for every stretch, in no particular order."""
    await anyio.to_thread.run_sync(func)


class PipelineIO(Protocol):
    """The pipeline's I/O steps, performed by whoever runs it through their own ports."""

    async def download(self, work: Work) -> None:
        """Set `work.data` (the original) and `work.assets` (what the options name)."""
        ...

    async def remove_background(self, work: Work) -> None:
        """Send `work.upload` per `work.plan`; set `work.removal` (and `work.cache_hit`)."""
        ...

    async def upload(self, work: Work) -> None:
        """Store `work.variants`."""
        ...


async def run_pipeline(
    work: Work,
    io: PipelineIO,
    *,
    run_stretch: RunStretch = in_worker_thread,
    hooks: Hooks | None = None,
    preset: str | None = None,
) -> Rendered:
    """Every step of PIPELINE in order; the report's processing_time is the whole run's."""
    hooks = hooks if hooks is not None else NoHooks()
    actions: dict[str, Callable[[Work], Awaitable[None]]] = {
        "download": io.download,
        "remove_background": io.remove_background,
        "upload": io.upload,
    }
    started = time.perf_counter()
    pending: list[Step] = []
    for index, step in enumerate(PIPELINE):
        if not step.io:
            pending.append(step)
            continue
        if pending:
            early = any(not later.io for later in PIPELINE[index + 1 :])
            await run_stretch(partial(run_steps, work, pending, hooks), early=early)
            pending = []
        if not enter(step, work, hooks):
            continue
        began = time.perf_counter()
        await actions[step.name](work)
        work.timings[step.name] = round((time.perf_counter() - began) * 1000)
    if pending:
        await run_stretch(partial(run_steps, work, pending, hooks), early=False)
    return finish(work, round((time.perf_counter() - started) * 1000), preset)


class MemoryIO:
    """I/O steps for bytes already in memory: no store, the remover called as it is."""

    def __init__(self, data: bytes, remover: BackgroundRemover, assets: Assets | None = None):
        self._data = data
        self._remover = remover
        self._assets = assets or Assets()

    async def download(self, work: Work) -> None:
        work.data = self._data
        work.assets = self._assets

    async def remove_background(self, work: Work) -> None:
        work.removal = await self._remover.remove(work.need("upload"), work.need("plan"))

    async def upload(self, work: Work) -> None:
        return None


class _StageHooks:
    """Tells `on_stage` each new stage (for callers that only watch stages)."""

    def __init__(self, on_stage: Callable[[str], None]) -> None:
        self._on_stage = on_stage
        self._last: str | None = None

    def on_step(self, step: Step) -> None:
        if step.stage != self._last:
            self._last = step.stage
            self._on_stage(step.stage)

    def still_ours(self) -> bool:
        return True


async def process_source(
    data: bytes,
    options: ProcessingOptions,
    remover: BackgroundRemover,
    *,
    limits: Limits,
    assets: Assets | None = None,
    run_stretch: RunStretch = in_worker_thread,
    on_stage: Callable[[str], None] | None = None,
) -> Rendered:
    """The whole pipeline on bytes in memory, with a remover: for tests and benchmarks."""
    work = Work(
        options=options,
        limits=limits,
        plan=remover.plan(options) if options.remove_background else None,
    )
    hooks = _StageHooks(on_stage) if on_stage is not None else None
    return await run_pipeline(
        work, MemoryIO(data, remover, assets), run_stretch=run_stretch, hooks=hooks
    )
