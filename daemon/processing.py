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

from daemon.pipeline import Limits, Rendered, Source, decode_source, removal_upload, render
from daemon.pipeline.options import ProcessingOptions
from daemon.pipeline.removal import BackgroundRemover, Removal, RemovalPlan

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
    plan = remover.plan(options) if options.remove_background else None
    # Decode and encode the upload in one trip to a worker thread: every trip may wait behind
    # other jobs' renders for a free thread.
    source, upload = await run_sync(partial(decode_and_upload, data, options, limits, plan))
    removal: Removal | None = None
    if plan is not None and upload is not None:
        if on_stage is not None:
            on_stage("removing_background")
        started = time.perf_counter()
        removal = await remover.remove(upload, plan)
        source.timings["remove_background"] = round((time.perf_counter() - started) * 1000)
    rendered: Rendered = await run_sync(partial(render, source, removal, options, on_stage))
    rendered.metadata["provider"] = remover.provider if removal is not None else "none"
    return rendered


def decode_and_upload(
    data: bytes, options: ProcessingOptions, limits: Limits, plan: RemovalPlan | None
) -> tuple[Source, bytes | None]:
    """Decode; with a plan, also encode what the remover will be sent."""
    source = decode_source(data, options, limits)
    return source, (removal_upload(source, plan) if plan is not None else None)
