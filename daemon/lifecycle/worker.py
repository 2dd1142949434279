"""The worker loop: wait for a hint or the poll timer, claim up to the free capacity, run claims.

Hints are debounced into one wake event, so a burst of 50,000 notifications costs a handful of
claims. The claim function is the single source of truth; the jittered poll catches whatever a
hint missed. Shutdown stops claiming, lets claims in flight finish within the grace period, then
releases the rest.
"""

from __future__ import annotations

import random
import time

import anyio
from loguru import logger

from daemon.app import metrics
from daemon.app.settings import Settings
from daemon.domain.errors import CredentialsRefused
from daemon.domain.retry import Backoff, Retries
from daemon.lifecycle.budget import PixelBudget
from daemon.lifecycle.claim import ClaimDeps, ClaimRun, execute_claim
from daemon.lifecycle.health_state import WorkerHealth
from daemon.lifecycle.slots import PipelineSlots
from daemon.pipeline.removal import BackgroundRemover
from daemon.ports import Backend, Hint, QueueUnavailable

# Coalesce a burst of hints into one claim.
HINT_DEBOUNCE_SECONDS = 0.005


class Worker:
    """Claims jobs from the backend's queue and runs them, as the settings say."""

    def __init__(
        self, backend: Backend, remover: BackgroundRemover, settings: Settings, worker_id: str
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.worker_id = worker_id
        self.health = WorkerHealth(last_tick=time.monotonic())
        self.budget = PixelBudget(settings.memory_budget_pixels)
        self.active: dict[object, ClaimRun] = {}
        self._wake = anyio.Event()
        self._idle = anyio.Event()
        self._deps = ClaimDeps(
            queue=backend.queue,
            store=backend.store,
            remover=remover,
            budget=self.budget,
            pipeline_slots=PipelineSlots(settings.pipeline_threads),
            worker_id=worker_id,
            settings=settings,
        )

    def wake(self, source: str = "hint", reason: str = "hint") -> None:
        """A hint that there may be work (LISTEN, Realtime, a webhook)."""
        metrics.wakeups.labels(source=source, reason=reason).inc()
        self._wake.set()

    def on_hint(self, hint: Hint, source: str = "listen") -> None:
        """A hint from a wake-up source: wake the claim loop, and stop the claims it says are
        over at once (no provider call, no upload). A change that cannot tell (no revision)
        makes that claim heartbeat now: the heartbeat stays the single source of truth."""
        self.wake(source, hint.reason)
        if hint.unnamed_requeues:
            for claim in self.active.values():
                claim.check_now()
        for change in hint.changes:
            run = self.active.get(change.job_id)
            if run is None:
                continue
            verdict = change.verdict(run.job.revision)
            if verdict == "stale":
                logger.bind(job_id=str(change.job_id)).info(
                    "{} while in stage {}: stopping now", change.status, run.stage
                )
                run.stop_by_hint()
            elif verdict == "check":
                run.check_now()

    async def run(self, stop: anyio.Event) -> None:
        """Claim and process jobs until `stop` is set, then shut down gracefully."""
        logger.info(
            "worker {} started: concurrency {}, lease {} s, poll {} s",
            self.worker_id,
            self.settings.worker_concurrency,
            self.settings.lease_seconds,
            self.settings.poll_interval_seconds,
        )
        async with anyio.create_task_group() as services:
            services.start_soon(self._listen_hints)
            async with anyio.create_task_group() as claims:
                await self._claim_loop(stop, claims)
                await self._drain()
            services.cancel_scope.cancel()
        logger.info("worker {} stopped", self.worker_id)

    async def _claim_loop(self, stop: anyio.Event, claims: anyio.abc.TaskGroup) -> None:
        # A failed claim is tried again 0.2 s, 0.4 s ... later, at most a poll interval apart,
        # each wait 50-100 % of that (never a busy loop, and daemons spread out).
        poll = self.settings.poll_interval_seconds
        retries = Retries(Backoff(initial=min(0.2, poll), maximum=poll, jitter=0.5))
        while not stop.is_set():
            self.health.last_tick = time.monotonic()
            if self.health.key_refused is not None:
                # A refused key is no outage: claim nothing, probe the key once per poll.
                await _sleep_or_stop(stop, self.settings.poll_interval_seconds)
                if not stop.is_set():
                    await self._probe_key()
                continue
            # A fresh event before counting capacity and claiming: a hint or a finished job from
            # now on wakes the next wait, and an old hint cannot keep a full worker spinning.
            self._wake = anyio.Event()
            free = self.settings.worker_concurrency - len(self.active)
            got = 0
            if free > 0:
                try:
                    jobs = await self.backend.queue.claim(
                        self.worker_id, free, self.settings.lease_seconds
                    )
                except CredentialsRefused as exc:
                    self.health.refuse_key(exc)
                    continue
                except QueueUnavailable as exc:
                    self.health.queue_error = str(exc) or type(exc).__name__
                    delay = retries.next_wait()
                    logger.warning("claim failed: {}; retrying in {:.1f} s", exc, delay)
                    await _sleep_or_stop(stop, delay)
                    continue
                except Exception as exc:  # a bug, not an outage: say so with its traceback
                    self.health.queue_error = f"bug: {type(exc).__name__}"
                    delay = retries.next_wait()
                    logger.opt(exception=exc).error(
                        "claim raised a bug; retrying in {:.1f} s", delay
                    )
                    await _sleep_or_stop(stop, delay)
                    continue
                retries.reset()
                self.health.queue_error = None
                metrics.claim_calls.inc()
                metrics.claims.inc(len(jobs))
                got = len(jobs)
                for job in jobs:
                    run = ClaimRun(job)
                    self.active[job.id] = run
                    claims.start_soon(self._execute, run)
            if free > 0 and got == free:
                continue  # maybe more waiting: claim again at once while there is capacity
            await self._wait_for_work(stop)

    async def _probe_key(self) -> None:
        try:
            await self.backend.queue.ping()
        except CredentialsRefused as exc:
            self.health.refuse_key(exc)
        except QueueUnavailable:
            pass  # an outage on top: the key is still unproven, so stay paused
        except Exception as exc:
            logger.opt(exception=exc).error("probing the key raised a bug")
        else:
            self.health.key_works()

    async def _wait_for_work(self, stop: anyio.Event) -> None:
        timeout = self.settings.poll_interval_seconds * random.uniform(0.8, 1.2)
        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as tg:

                async def on(event: anyio.Event) -> None:
                    await event.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(on, self._wake)
                tg.start_soon(on, stop)
        await anyio.sleep(HINT_DEBOUNCE_SECONDS)

    async def _execute(self, run: ClaimRun) -> None:
        try:
            await execute_claim(run, self._deps)
            if run.refused is not None:
                self.health.refuse_key(run.refused)
        except QueueUnavailable as exc:
            logger.bind(job_id=str(run.job.id)).error(
                "could not record the end of the job ({}); its lease will run out and it will be "
                "claimed again",
                exc,
            )
        except Exception as exc:  # a bug in the final write: the lease runs out as above
            logger.bind(job_id=str(run.job.id)).opt(exception=exc).error(
                "recording the end of the job raised a bug; its lease will run out"
            )
        finally:
            self.active.pop(run.job.id, None)
            self._wake.set()  # capacity is free: claim again
            if not self.active:
                self._idle.set()

    async def _drain(self) -> None:
        self.health.stopping = True
        if self.active:
            logger.info(
                "stopping: waiting up to {:.0f} s for {} job(s)",
                self.settings.shutdown_grace_seconds,
                len(self.active),
            )
            self._idle = anyio.Event()
            with anyio.move_on_after(self.settings.shutdown_grace_seconds):
                while self.active:
                    await self._idle.wait()
                    self._idle = anyio.Event()
        for run in list(self.active.values()):
            run.stop_for_release()

    async def _listen_hints(self) -> None:
        wakeups = self.backend.wakeups
        while True:
            try:
                async for hint in wakeups.hints():
                    self.on_hint(hint)
            except Exception as exc:  # adapters end their stream on an outage; this is a bug
                logger.opt(exception=exc).error("wake-up source raised a bug; relying on the poll")
            await anyio.sleep(self.settings.poll_interval_seconds)


async def _sleep_or_stop(stop: anyio.Event, seconds: float) -> None:
    with anyio.move_on_after(seconds):
        await stop.wait()
