"""One claim of one job: heartbeat, download, pipeline, upload, then complete or fail.

The claim's lease_token fences every write. A heartbeat that answers false means the claim is over
(cancelled, requeued, or rescued by another worker): the job's work is cancelled at once and
nothing more is written for it, not even a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from loguru import logger

from daemon.app import metrics
from daemon.app.settings import Settings
from daemon.domain.errors import CredentialsRefused, ProcessingError, as_processing_error
from daemon.domain.retry import Backoff, Retries
from daemon.lifecycle.assets import AssetCache, StoreAssets
from daemon.lifecycle.budget import PixelBudget
from daemon.lifecycle.cache import CachedRemoval
from daemon.lifecycle.memory import release_after
from daemon.lifecycle.outputs import Location, build_result, old_revision_paths, output_path
from daemon.lifecycle.presets import resolve_options
from daemon.lifecycle.processing import run_pipeline
from daemon.lifecycle.slots import PipelineSlots
from daemon.pipeline import Abandoned, Limits, Step, Work, probe
from daemon.pipeline.removal import BackgroundRemover
from daemon.ports import ClaimedJob, JobQueue, ObjectStore, QueueUnavailable

if TYPE_CHECKING:
    from loguru import Logger

T = TypeVar("T")

# The final write through an outage: 0.2 s, 0.4 s ... at most 5 s apart, until the lease is
# surely gone (twice its length); no jitter, one writer per claim.
FINAL_WRITE_BACKOFF = Backoff(initial=0.2, maximum=5.0, jitter=0.0)

# Output objects never change (their path carries the revision), so CDNs may keep them forever.
OUTPUT_CACHE_CONTROL = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class ClaimDeps:
    """What every claim needs; built once per worker. The settings are the daemon's one
    settings object; the properties below only name the parts a claim reads."""

    queue: JobQueue
    store: ObjectStore
    remover: BackgroundRemover
    budget: PixelBudget
    pipeline_slots: PipelineSlots  # threads for the pure stretches, shared by every claim
    worker_id: str
    settings: Settings
    # Backdrops and logos, shared by every claim of this worker (built from the store).
    assets: AssetCache = field(init=False)

    def __post_init__(self) -> None:
        source = StoreAssets(self.store, self.settings.assets_bucket)
        object.__setattr__(self, "assets", AssetCache(source, self.limits))

    @property
    def limits(self) -> Limits:
        return Limits(
            max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels
        )

    @property
    def lease_seconds(self) -> int:
        return self.settings.lease_seconds

    @property
    def output_bucket(self) -> str:
        return self.settings.output_bucket

    @property
    def cache_bucket(self) -> str:
        return self.settings.cache_bucket


@dataclass
class ClaimRun:
    """The live state of one claim, shared by its work and its heartbeat task."""

    job: ClaimedJob
    stage: str = "claimed"
    progress: int = 0
    lost: bool = False
    release_requested: bool = False
    finished: bool = False
    # A refused key (while running) ends the claim without a write: none could be made.
    refused: CredentialsRefused | None = None
    # A bug in the heartbeat loop: the job fails with internal_error, the traceback is logged.
    bug: BaseException | None = None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    _changed: anyio.Event = field(default_factory=anyio.Event)
    _unsent: list[tuple[str, int]] = field(default_factory=list)  # stages not yet heartbeated
    _loop_thread: int = field(default_factory=threading.get_ident)
    # Posts a call to the event loop from a pipeline thread without waiting for it: a thread
    # that blocked on every report would hold its pipeline slot while the loop is busy.
    _post: Callable[..., object] = field(default_factory=lambda: _loop_poster())
    _stage_started: float = field(default_factory=time.perf_counter)

    def set_stage(self, stage: str, progress: int) -> None:
        """Record a stage and progress; safe to call from the pipeline's worker threads.

        A new stage is sent at once (a heartbeat); progress within a stage rides along with
        the next one.
        """
        if threading.get_ident() != self._loop_thread:
            self._post(self.set_stage, stage, progress)
            return
        if self.finished:
            return  # a late report from a stretch abandoned on its thread
        self.progress = progress
        if stage == self.stage:
            return
        now = time.perf_counter()
        metrics.stage_duration.labels(stage=self.stage).observe(now - self._stage_started)
        self._stage_started = now
        self.stage = stage
        self._unsent.append((stage, progress))
        self._changed.set()

    def beats(self) -> list[tuple[str, int]]:
        """What the next heartbeat reports: every stage begun since the last attempt, in order
        (a short stage is not skipped because the next began before the loop sent it), with the
        latest progress on the last; or the current stage alone."""
        beats, self._unsent = self._unsent, []
        if not beats:
            return [(self.stage, self.progress)]
        beats[-1] = (beats[-1][0], self.progress)
        return beats

    # The pipeline runner's hooks (daemon.pipeline.runner.Hooks).

    def on_step(self, step: Step) -> None:
        self.set_stage(step.stage, step.progress)

    def still_ours(self) -> bool:
        # A cancelled scope (a heartbeat bug, a refused key) or a finished claim also ends the
        # work of a stretch abandoned on its thread, at its next step.
        return not (self.lost or self.release_requested or self.finished) and not (
            self.scope.cancel_called
        )

    def finish(self) -> None:
        """The work is over: the heartbeat loop ends after any call it has in flight."""
        self.finished = True
        self._changed.set()

    async def wait_changed(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self._changed.wait()
        self._changed = anyio.Event()

    def stop_by_hint(self) -> None:
        """A hint says this claim is over (cancelled, requeued): stop at once and write nothing,
        exactly as after a heartbeat that answered false."""
        if self.finished:
            return  # the final write is under way; its fence decides
        self.lost = True
        self.scope.cancel()

    def check_now(self) -> None:
        """Heartbeat now, not at the next interval: a hint may concern this claim."""
        self._changed.set()

    def stop_for_release(self) -> None:
        """Shutdown: stop working on this job and give it back to the queue."""
        self.release_requested = True
        self.scope.cancel()


async def execute_claim(run: ClaimRun, deps: ClaimDeps) -> str:
    """Run one claim to its end; returns the outcome for metrics and logs."""
    job = run.job
    log = logger.bind(job_id=str(job.id), revision=job.revision, attempt=job.attempts)
    started = time.perf_counter()
    error: ProcessingError | None = None
    result: dict[str, Any] | None = None
    metrics.active_processing.inc()
    try:
        with run.scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_heartbeat_loop, run, deps)
                try:
                    result = await _process(run, deps)
                except Abandoned:
                    pass  # the claim is over: the heartbeat or the release says why
                except CredentialsRefused as exc:
                    run.refused = exc
                except Exception as exc:
                    error = as_processing_error(exc)
                    if not isinstance(exc, ProcessingError):
                        log.opt(exception=exc).error("unexpected error in job")
                # Stop the heartbeats before the final write; let one in flight finish rather
                # than cancel it (a cancelled query costs the pool its connection).
                run.finish()
    finally:
        metrics.active_processing.dec()

    if run.bug is not None:
        result, error = None, as_processing_error(run.bug)
    try:
        return await _record_end(run, deps, log, started, result, error)
    except CredentialsRefused as exc:
        run.refused = exc
    # The worker says so once a minute for the whole process, not once per job.
    log.debug("the key was refused: stopped without writing (the lease will run out)")
    return "refused"


async def _record_end(
    run: ClaimRun,
    deps: ClaimDeps,
    log: Logger,
    started: float,
    result: dict[str, Any] | None,
    error: ProcessingError | None,
) -> str:
    """The claim's one final write (complete, fail or release), or none when it is over."""
    job = run.job
    if run.refused is not None:
        raise run.refused
    if run.lost:
        metrics.lease_losses.inc()
        log.warning("claim is over (cancelled, requeued or rescued); stopped without writing")
        return "lost"
    if run.release_requested and result is None:
        await _final_write(deps, lambda: deps.queue.release(job.id, job.lease_token))
        log.info("released at shutdown")
        return "released"
    if error is None:
        assert result is not None
        ok = await _final_write(deps, lambda: deps.queue.complete(job.id, job.lease_token, result))
        if not ok:
            metrics.lease_losses.inc()
            log.warning("completion refused: the claim was over before it finished")
            return "lost"
        metrics.images_processed.labels(outcome="succeeded").inc()
        metrics.processing_duration.observe(time.perf_counter() - started)
        log.info("succeeded in {:.0f} ms", (time.perf_counter() - started) * 1000)
        await _remove_old_revisions(job, deps)
        return "succeeded"

    metrics.failures.labels(code=error.code, retryable=str(error.retryable).lower()).inc()
    delay = int(error.retry_after + 0.999) if error.retry_after is not None else None
    payload = error.to_json(attempt=job.attempts, at=_now_iso())
    status = await _final_write(
        deps, lambda: deps.queue.fail(job.id, job.lease_token, payload, error.retryable, delay)
    )
    if status is None:
        metrics.lease_losses.inc()
        return "lost"
    outcome = "retried" if status == "queued" else "failed"
    metrics.images_processed.labels(outcome=outcome).inc()
    log.warning("{}: {}: {} (now {})", outcome, error.code, error.message, status)
    return outcome


async def _process(run: ClaimRun, deps: ClaimDeps) -> dict[str, Any]:
    job = run.job
    options = await resolve_options(job.options, deps.queue)
    io = JobIO(job, deps)
    work = Work(
        options=options,
        limits=deps.limits,
        plan=deps.remover.plan(options) if options.remove_background else None,
    )

    try:
        rendered = await run_pipeline(work, io, run_stretch=deps.pipeline_slots.run, hooks=run)
    finally:
        await io.aclose()
    return build_result(
        rendered,
        io.locations,
        source_sha256=io.sha256,
        revision=job.revision,
        worker=deps.worker_id,
    )


class JobIO:
    """The pipeline's I/O steps for one claim, through the lifecycle's ports."""

    def __init__(self, job: ClaimedJob, deps: ClaimDeps) -> None:
        self._job = job
        self._deps = deps
        self._hold: contextlib.AsyncExitStack = contextlib.AsyncExitStack()
        self._pixels = 0
        self.sha256 = ""
        self.locations: dict[str, Location] = {}

    async def download(self, work: Work) -> None:
        deps = self._deps
        data = await deps.store.get(self._job.source_bucket, self._job.source_path)
        info = probe(data, deps.limits)
        # Off the event loop: an original can be tens of megabytes (hashlib releases the GIL).
        self.sha256 = (await anyio.to_thread.run_sync(hashlib.sha256, data)).hexdigest()
        work.assets = await deps.assets.for_options(work.options)
        # The photo's pixels count against the budget from here until its variants are encoded.
        self._pixels = info.pixels
        await self._hold.enter_async_context(deps.budget.hold(info.pixels))
        work.data = data

    async def remove_background(self, work: Work) -> None:
        deps = self._deps
        remover = CachedRemoval(deps.remover, deps.store, deps.cache_bucket, self.sha256)
        work.removal = await remover.remove(work.need("upload"), work.need("plan"))
        work.cache_hit = remover.hit

    async def upload(self, work: Work) -> None:
        await self.aclose()  # encoded: the pixels are gone, let the next photo in
        deps = self._deps
        async with anyio.create_task_group() as tg:
            for variant in work.variants.values():
                path = output_path(
                    self._job.id, self._job.revision, variant.name, variant.extension
                )
                url = deps.store.public_url(deps.output_bucket, path)
                self.locations[variant.name] = Location(deps.output_bucket, path, url)
                tg.start_soon(
                    _upload,
                    deps.store,
                    deps.output_bucket,
                    path,
                    variant.data,
                    variant.content_type,
                )

    async def aclose(self) -> None:
        """Give the pixel budget back (once), after handing the memory back to the system."""
        if self._pixels:
            release_after(self._pixels)
            self._pixels = 0
        await self._hold.aclose()


async def _upload(
    store: ObjectStore, bucket: str, path: str, data: bytes, content_type: str
) -> None:
    await store.put(
        bucket, path, data, content_type=content_type, cache_control=OUTPUT_CACHE_CONTROL
    )


async def _heartbeat_loop(run: ClaimRun, deps: ClaimDeps) -> None:
    """Extend the lease at lease/3 at the latest, and at every stage change."""
    interval = deps.lease_seconds / 3
    job = run.job
    while not run.finished:
        await run.wait_changed(interval)
        if run.finished:
            return
        try:
            ok = True
            for stage, progress in run.beats():
                if run.finished:
                    break  # the final write sets the stage: no backlog ahead of it
                ok = await deps.queue.heartbeat(
                    job.id, job.lease_token, deps.lease_seconds, stage, progress
                )
                if not ok:
                    break
        except QueueUnavailable as exc:
            # Keep working: the lease may outlive a short outage; the final write is fenced anyway.
            logger.bind(job_id=str(job.id)).warning("heartbeat failed: {}", exc)
            continue
        except CredentialsRefused as exc:
            run.refused = exc
            run.scope.cancel()
            return
        except Exception as exc:  # a bug, not an outage: fail the job with internal_error
            logger.bind(job_id=str(job.id)).opt(exception=exc).error("heartbeat raised a bug")
            run.bug = exc
            run.scope.cancel()
            return
        if not ok:
            run.lost = True
            run.scope.cancel()
            return


async def _final_write(deps: ClaimDeps, call: Callable[[], Awaitable[T]]) -> T:
    """The last write of a claim, retried through a database outage for as long as the lease
    could still be ours; after that the lease is gone and the job will be rescued."""
    deadline = time.monotonic() + deps.lease_seconds * 2
    retries = Retries(FINAL_WRITE_BACKOFF)
    with anyio.CancelScope(shield=True):
        while True:
            try:
                return await call()
            except QueueUnavailable as exc:
                if time.monotonic() > deadline:
                    raise
                delay = retries.next_wait()
                logger.warning("final write failed ({}); retrying in {:.1f} s", exc, delay)
                await anyio.sleep(delay)
    raise AssertionError("unreachable: a shielded scope is never cancelled")


async def _remove_old_revisions(job: ClaimedJob, deps: ClaimDeps) -> None:
    try:
        existing = await deps.store.list(deps.output_bucket, str(job.id))
        stale = old_revision_paths(job.id, job.revision, existing)
        if stale:
            await deps.store.delete(deps.output_bucket, stale)
    except Exception as exc:
        logger.bind(job_id=str(job.id)).warning("could not remove old outputs: {}", exc)


def _loop_poster() -> Callable[..., object]:
    """How a thread hands a call to the running event loop and goes on (asyncio, the daemon's
    backend); with no loop running yet, anyio's blocking call is the safe fallback."""
    try:
        return asyncio.get_running_loop().call_soon_threadsafe
    except RuntimeError:
        return anyio.from_thread.run_sync


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
