"""The claim lifecycle on the in-memory adapters: no database, each test in about a second.

Stage order, a heartbeat that answers false, a cancel at each stage (by the heartbeat and by a
hint), a final write through an outage, release at shutdown, and a bug that is internal_error.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from daemon.adapters.memory import (
    MemoryQueue,
    MemoryRemover,
    MemoryStore,
    MemoryTable,
    memory_backend,
)
from daemon.lifecycle.budget import PixelBudget
from daemon.lifecycle.claim import ClaimDeps, ClaimRun, execute_claim
from daemon.lifecycle.slots import PipelineSlots
from daemon.lifecycle.worker import Worker
from tests.acceptance.daemon.harness import studio_jpeg
from tests.settings import make_settings

pytestmark = pytest.mark.anyio

SOURCE = "vehicle-photos"
OUTPUT = "vehicle-photos-processed"
STAGES = ["downloading", "removing_background", "cropping", "shadowing", "rendering", "uploading"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class WatchedQueue(MemoryQueue):
    """A MemoryQueue that records the stages its heartbeats carry and runs a hook before
    answering one (to cancel or requeue the job at that moment)."""

    def __init__(self, table: MemoryTable) -> None:
        super().__init__(table)
        self.stages: list[str] = []
        self.on_stage: Callable[[str, uuid.UUID], None] = lambda stage, job_id: None
        self.after_stage: Callable[[str], None] = lambda stage: None

    async def heartbeat(
        self,
        job_id: uuid.UUID,
        lease_token: uuid.UUID,
        lease_seconds: int,
        stage: str | None = None,
        progress: int | None = None,
    ) -> bool:
        new = stage is not None and (not self.stages or self.stages[-1] != stage)
        if new:
            assert stage is not None
            self.stages.append(stage)
            self.on_stage(stage, job_id)
        answer = await super().heartbeat(job_id, lease_token, lease_seconds, stage, progress)
        if new:
            assert stage is not None
            self.after_stage(stage)
        return answer


class Setup:
    def __init__(self, *, remover_delay: float = 0.0) -> None:
        self.table = MemoryTable()
        self.queue = WatchedQueue(self.table)
        self.store = MemoryStore()
        self.remover = MemoryRemover(delay=remover_delay)
        self.settings = make_settings(lease_seconds=30, worker_concurrency=2)
        self.deps = ClaimDeps(
            queue=self.queue,
            store=self.store,
            remover=self.remover,
            budget=PixelBudget(10**9),
            pipeline_slots=PipelineSlots(2),
            worker_id="worker-unit",
            settings=self.settings,
        )

    async def job(self) -> ClaimRun:
        await self.store.put(SOURCE, "lot/car.jpg", studio_jpeg(), content_type="image/jpeg")
        self.table.insert("lot/car.jpg")
        [claimed] = await self.queue.claim("worker-unit", 1, 30)
        return ClaimRun(claimed)

    def outputs(self) -> list[str]:
        return [path for bucket, path in self.store.objects if bucket == OUTPUT]

    def row(self, run: ClaimRun) -> Any:
        return self.table.rows[run.job.id]


async def test_stages_run_in_order_and_the_job_succeeds() -> None:
    setup = Setup()
    run = await setup.job()
    assert await execute_claim(run, setup.deps) == "succeeded"
    assert setup.queue.stages == STAGES
    row = setup.row(run)
    assert (row.status, row.stage, row.progress, row.error) == ("succeeded", "done", 100, None)
    assert sorted(row.result["variants"]) == ["detail", "grid", "processed"]
    assert sorted(setup.outputs()) == sorted(
        f"{run.job.id}/r0/{name}.webp" for name in ("detail", "grid", "processed")
    )
    assert row.result["metadata"]["provider"] == "memory" and setup.remover.calls == 1


@pytest.mark.parametrize("stage", STAGES)
async def test_a_cancel_seen_by_the_heartbeat_stops_the_claim_without_a_write(stage: str) -> None:
    setup = Setup()
    run = await setup.job()
    setup.queue.on_stage = lambda seen, job_id: seen == stage and setup.table.cancel(job_id)
    assert await execute_claim(run, setup.deps) == "lost"
    row = setup.row(run)
    assert (row.status, row.result, row.error) == ("cancelled", None, None)
    before = STAGES.index(stage)
    # Nothing after the stage where the claim ended: no provider call before removal, no
    # upload before uploading, no completion at all.
    if before <= STAGES.index("removing_background"):
        assert setup.remover.calls <= (1 if stage == "removing_background" else 0)
    if stage != "uploading":
        assert setup.outputs() == []
    assert setup.queue.stages == STAGES[: before + 1]
    assert setup.queue.calls.get("complete", 0) == 0 and setup.queue.calls.get("fail", 0) == 0


async def test_a_requeue_mid_job_is_a_false_heartbeat_and_the_new_revision_is_untouched() -> None:
    setup = Setup()
    run = await setup.job()
    setup.queue.on_stage = lambda seen, job_id: seen == "cropping" and setup.table.requeue(job_id)
    assert await execute_claim(run, setup.deps) == "lost"
    row = setup.row(run)
    assert (row.status, row.revision, row.attempts, row.error) == ("queued", 1, 0, None)
    assert setup.outputs() == []


@pytest.mark.parametrize("stage", ["downloading", "removing_background", "rendering"])
async def test_a_cancel_hint_stops_the_claim_before_the_next_heartbeat(stage: str) -> None:
    table = MemoryTable()
    backend = memory_backend(table)
    queue = WatchedQueue(table)
    backend.queue = queue
    remover = MemoryRemover(delay=3.0 if stage == "removing_background" else 0.0)
    slow_download = SlowStore(backend.store, 3.0 if stage == "downloading" else 0.0)
    backend.store = slow_download
    await slow_download.inner.put(SOURCE, "lot/car.jpg", studio_jpeg(), content_type="image/jpeg")
    settings = make_settings(lease_seconds=30, poll_interval_seconds=0.2, worker_concurrency=1)
    worker = Worker(backend, remover, settings, "worker-unit")
    stop = anyio.Event()
    seen: list[float] = []
    queue.on_stage = lambda s, job_id: s == stage and seen.append(time.monotonic())
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run, stop)
        job_id = table.insert("lot/car.jpg")
        with anyio.fail_after(5):
            while not seen:  # noqa: ASYNC110 - watching the worker from outside
                await anyio.sleep(0.01)
        table.cancel(job_id)  # the memory wake-ups send the row's change, as Realtime does
        cancelled_at = time.monotonic()
        with anyio.fail_after(5):
            while job_id in worker.active:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        elapsed = time.monotonic() - cancelled_at
        stop.set()
    await backend.aclose()
    assert elapsed < 1.0  # the next heartbeat would be 10 s away
    assert remover.calls == (0 if stage == "downloading" else 1)
    assert [p for b, p in slow_download.inner.objects if b == OUTPUT] == []
    assert (table.rows[job_id].status, table.rows[job_id].error) == ("cancelled", None)


async def test_the_final_write_goes_through_an_outage() -> None:
    setup = Setup()
    run = await setup.job()
    # The database goes away for the next three calls once the uploads begin: the three
    # attempts at `complete` fail, the fourth lands.
    setup.queue.after_stage = lambda seen: seen == "uploading" and setup.queue.outage(3)
    assert await execute_claim(run, setup.deps) == "succeeded"
    assert setup.row(run).status == "succeeded"
    assert setup.queue.calls["complete"] == 4


async def test_release_at_shutdown_gives_the_job_back_without_counting_the_attempt() -> None:
    setup = Setup(remover_delay=5.0)
    run = await setup.job()
    setup.queue.on_stage = lambda seen, job_id: (
        seen == "removing_background" and (run.stop_for_release())
    )
    assert await execute_claim(run, setup.deps) == "released"
    row = setup.row(run)
    assert (row.status, row.attempts, row.lease_token, row.error) == ("queued", 0, None, None)
    assert setup.outputs() == []


async def test_a_bug_in_an_adapter_fails_the_job_with_internal_error_at_once() -> None:
    setup = Setup()
    run = await setup.job()

    async def broken(bucket: str, path: str) -> bytes:
        raise TypeError("'NoneType' object is not subscriptable")

    setup.store.get = broken  # type: ignore[method-assign]
    assert await execute_claim(run, setup.deps) == "failed"
    row = setup.row(run)
    assert row.status == "failed"  # attempts were left: a bug is not retried as an outage
    assert row.error["code"] == "internal_error" and row.error["retryable"] is False
    assert "subscriptable" not in row.error["message"]


class SlowStore:
    """Downloads of originals take `seconds`."""

    def __init__(self, inner: MemoryStore, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds

    async def get(self, bucket: str, path: str) -> bytes:
        if bucket == SOURCE:
            await anyio.sleep(self.seconds)
        return await self.inner.get(bucket, path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
