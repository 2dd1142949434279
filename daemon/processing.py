"""The async glue between the pure pipeline and a background remover.

Shared by `python -m daemon process` and the job lifecycle: decode in a worker thread, ask the
remover (the only network step), render in a worker thread. CPU work never runs on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio.to_thread

from daemon.pipeline import Limits, Rendered, decode_source, removal_upload, render
from daemon.pipeline.options import ProcessingOptions
from daemon.pipeline.removal import BackgroundRemover, Removal

RunSync = Callable[..., Awaitable[Any]]


async def process_source(
    data: bytes,
    options: ProcessingOptions,
    remover: BackgroundRemover,
    *,
    limits: Limits,
    run_sync: RunSync = anyio.to_thread.run_sync,
    on_stage: Callable[[str], None] | None = None,
) -> Rendered:
    """Decode, remove the background when the options and the remover call for it, render.

    `run_sync` runs the CPU steps (anyio's thread pool by default; the lifecycle passes one bound
    to its own limiter). `on_stage` hears "removing_background", then "cropping", "shadowing" and
    "rendering" (the last three from the worker thread).
    """
    source = await run_sync(partial(decode_source, data, options, limits))
    removal: Removal | None = None
    plan = remover.plan(options) if options.remove_background else None
    if plan is not None:
        if on_stage is not None:
            on_stage("removing_background")
        started = time.perf_counter()
        upload = await run_sync(partial(removal_upload, source, plan))
        removal = await remover.remove(upload, plan)
        source.timings["remove_background"] = round((time.perf_counter() - started) * 1000)
    rendered: Rendered = await run_sync(partial(render, source, removal, options, on_stage))
    rendered.metadata["provider"] = remover.provider if removal is not None else "none"
    return rendered
