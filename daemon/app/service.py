"""The daemon process: backend, remover, worker, health port and signals, wired together once."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import anyio
import anyio.abc
from loguru import logger

from daemon.adapters.factory import build_remover as build
from daemon.adapters.factory import open_backend
from daemon.app import early_stop, metrics
from daemon.app.http_port import HealthServer
from daemon.app.settings import Settings
from daemon.lifecycle.identity import new_worker_id
from daemon.lifecycle.worker import Worker
from daemon.pipeline.removal import BackgroundRemover
from daemon.ports import Backend

__all__ = ["build_remover", "open_backend", "run_worker", "serve"]

DEPTH_REFRESH_SECONDS = 15.0


def build_remover(settings: Settings) -> BackgroundRemover:
    remover = build(settings)
    logger.info("background remover: {}", remover.provider)
    return remover


async def run_worker(
    settings: Settings,
    backend: Backend,
    remover: BackgroundRemover,
    stop: anyio.Event,
    *,
    handle_signals: bool = True,
    health_port: int | None = None,
    on_start: Callable[[Worker], None] | None = None,
) -> None:
    """Run a worker and its health port until `stop` is set (or a signal), then drain."""
    worker = Worker(backend, remover, settings, new_worker_id())
    health = HealthServer(
        worker,
        host=settings.health_host,
        port=settings.health_port if health_port is None else health_port,
        webhook_secret=(
            settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        ),
    )
    await health.start()
    if on_start is not None:
        on_start(worker)
    try:
        async with anyio.create_task_group() as tg:
            if handle_signals:
                tg.start_soon(_watch_signals, stop)
            tg.start_soon(_refresh_depth, backend)
            await worker.run(stop)
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await health.aclose()


async def serve(settings: Settings) -> int:
    """`python -m daemon run`: consume jobs until SIGTERM or SIGINT; 0 after a graceful stop.

    The signal handlers come first, so a signal during start-up (while connecting, say) abandons
    it at once and exits 0; one that came even earlier, before the event loop, is read from
    `early_stop`.
    """
    stop = anyio.Event()
    startup = anyio.CancelScope()
    failure: Exception | None = None
    async with anyio.create_task_group() as tg:
        await tg.start(_watch_signals, stop, startup.cancel)
        early = early_stop.requested()
        if early is not None:
            logger.info("{} during start-up: exiting", early)
            stop.set()
            startup.cancel()
        try:
            await _serve_until(settings, stop, startup)
        except Exception as exc:
            failure = exc  # raised below as it is, not inside the task group's ExceptionGroup
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return 0


async def _serve_until(settings: Settings, stop: anyio.Event, startup: anyio.CancelScope) -> None:
    if stop.is_set():
        return
    logger.debug("starting: {} backend", settings.backend or "no")
    backend: Backend | None = None
    with startup:  # cancelled by a signal: nothing was claimed yet
        backend = await open_backend(settings)
    if backend is None or stop.is_set():
        if backend is not None:
            with anyio.CancelScope(shield=True):
                await backend.aclose()
        logger.info("stopped during start-up")
        return
    try:
        remover = build_remover(settings)
        try:
            await run_worker(settings, backend, remover, stop, handle_signals=False)
        finally:
            with anyio.CancelScope(shield=True):
                await remover.aclose()
    finally:
        with anyio.CancelScope(shield=True):
            await backend.aclose()


async def _watch_signals(
    stop: anyio.Event,
    on_stop: Callable[[], None] | None = None,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if stop.is_set():
                # A second signal: exit at once. Claims in flight are rescued when their lease
                # runs out.
                logger.warning("second {}: exiting now", name)
                os._exit(1)
            logger.info("{}: finishing jobs in flight, then exiting", name)
            stop.set()
            if on_stop is not None:
                on_stop()


async def _refresh_depth(backend: Backend) -> None:
    while True:
        try:
            depth = await backend.queue.queue_depth()
        except Exception:
            depth = None
        for status, count in (depth or {}).items():
            metrics.queue_depth.labels(status=status).set(count)
        await anyio.sleep(DEPTH_REFRESH_SECONDS)
