"""Cancels and requeues land at once: a wake-up hint stops the claim it concerns.

The heartbeat runs every lease/3 = 10 s here, so a claim that stops within a couple of seconds
of the cancel was stopped by the hint. On both wake-up sources: Postgres NOTIFY (ids of
cancelled rows, checked by an immediate heartbeat) and Supabase Realtime (the row itself,
whose status and revision say the claim is stale).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
import pytest

from daemon.adapters import Backend
from daemon.adapters.api4ai import Api4aiRemover
from daemon.adapters.filesystem import FilesystemStore
from daemon.adapters.postgres import PostgresQueue, PostgresWakeups
from daemon.lifecycle.worker import Worker
from daemon.ports import ObjectStore
from tests.acceptance.daemon.harness import OUTPUT_BUCKET, SOURCE_BUCKET, studio_jpeg
from tests.doubles.api4ai import Api4aiDouble
from tests.settings import make_settings

pytestmark = pytest.mark.anyio

LEASE = 30  # heartbeats every 10 s
SLOW = 8.0  # a download or provider call this slow outlasts the test's patience


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SlowSource:
    """An ObjectStore whose downloads of originals take `seconds` while `slow` is set."""

    def __init__(self, inner: ObjectStore, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self.slow = False
        self.puts: list[str] = []

    async def get(self, bucket: str, path: str) -> bytes:
        if self.slow and bucket == SOURCE_BUCKET:
            await anyio.sleep(self.seconds)
        return await self.inner.get(bucket, path)

    async def put(self, bucket: str, path: str, data: bytes, **kwargs: Any) -> None:
        self.puts.append(f"{bucket}/{path}")
        await self.inner.put(bucket, path, data, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@asynccontextmanager
async def backend_for(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if kind == "postgres":
        env = request.getfixturevalue("env")
        queue = await PostgresQueue.open(env.dsn)
        store: ObjectStore = FilesystemStore(env.storage)
        backend = Backend("postgres", queue, SlowSource(store, SLOW), PostgresWakeups(env.dsn))  # type: ignore[arg-type]
    else:
        from daemon.adapters.supabase import (
            RPC_TIMEOUT,
            STORAGE_TIMEOUT,
            SupabaseQueue,
            SupabaseStore,
            SupabaseWakeups,
            make_client,
        )

        sb = request.getfixturevalue("sb")
        queue = SupabaseQueue(make_client(sb.url, sb.service_key, RPC_TIMEOUT))  # type: ignore[assignment]
        store = SupabaseStore(make_client(sb.url, sb.service_key, STORAGE_TIMEOUT), sb.url)
        wakeups = SupabaseWakeups(sb.url, sb.service_key, backoff_initial=0.05)
        backend = Backend("supabase", queue, SlowSource(store, SLOW), wakeups)  # type: ignore[arg-type]
    try:
        yield backend
    finally:
        await backend.aclose()


def sql(dsn: str, statement: str, *args: Any) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, args)
        return cur.fetchone() if cur.description else None


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - polling the worker's state from outside
            await anyio.sleep(0.02)


@pytest.mark.parametrize("kind", ["postgres", "supabase"])
@pytest.mark.parametrize("slow", ["download", "provider"])
async def test_a_cancel_stops_the_claim_at_once(
    kind: str, slow: str, request: pytest.FixtureRequest, pg_dsn: str
) -> None:
    with Api4aiDouble(api_key="k") as api4ai:
        remover = Api4aiRemover(api_key="k", url=api4ai.url)
        async with backend_for(kind, request) as backend:
            store: SlowSource = backend.store  # type: ignore[assignment]
            await store.inner.put(
                SOURCE_BUCKET, "lot/car.jpg", studio_jpeg(), content_type="image/jpeg"
            )
            store.puts.clear()
            store.slow = slow == "download"
            if slow == "provider":
                api4ai.set_latency(SLOW)
            config = make_settings(
                worker_concurrency=1, lease_seconds=LEASE, poll_interval_seconds=0.5
            )
            worker = Worker(backend, remover, config, "worker-hints")
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(worker.run, stop)
                await _hints_heard(backend)
                (job_id,) = sql(
                    pg_dsn,
                    "insert into processing_jobs (source_path) values ('lot/car.jpg') returning id",
                )
                stage = "downloading" if slow == "download" else "removing_background"
                await wait_for(lambda: _stage(worker, job_id) == stage)
                if slow == "provider":
                    await wait_for(lambda: api4ai.calls == 1)
                await anyio.sleep(0.2)  # well inside the slow call
                cancelled_at = time.monotonic()
                sql(pg_dsn, "update processing_jobs set status = 'cancelled' where id = %s", job_id)
                await wait_for(lambda: job_id not in worker.active, timeout=SLOW)
                elapsed = time.monotonic() - cancelled_at
                stop.set()
            await remover.aclose()
        assert elapsed < 2.5, f"stopped {elapsed:.1f} s after the cancel (heartbeat: 10 s)"
        # A cancel during the download costs no provider call; none costs an upload.
        assert api4ai.calls == (0 if slow == "download" else 1)
        assert [p for p in store.puts if p.startswith(OUTPUT_BUCKET)] == []
        status, error = sql(
            pg_dsn, "select status, error from processing_jobs where id = %s", job_id
        )
        assert (status, error) == ("cancelled", None)


@pytest.mark.parametrize("kind", ["postgres", "supabase"])
async def test_a_requeue_stops_the_old_revision_at_once(
    kind: str, request: pytest.FixtureRequest, pg_dsn: str
) -> None:
    # Realtime names the job and its new revision; NOTIFY names no requeued job, so every
    # claim in flight asks its heartbeat at once.
    with Api4aiDouble(api_key="k") as api4ai:
        remover = Api4aiRemover(api_key="k", url=api4ai.url)
        async with backend_for(kind, request) as backend:
            store: SlowSource = backend.store  # type: ignore[assignment]
            await store.inner.put(
                SOURCE_BUCKET, "lot/car.jpg", studio_jpeg(), content_type="image/jpeg"
            )
            store.slow = True
            config = make_settings(
                worker_concurrency=1,
                lease_seconds=LEASE,
                poll_interval_seconds=0.5,
                shutdown_grace_seconds=0.1,
            )
            worker = Worker(backend, remover, config, "worker-hints")
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(worker.run, stop)
                await _hints_heard(backend)
                (job_id,) = sql(
                    pg_dsn,
                    "insert into processing_jobs (source_path) values ('lot/car.jpg') returning id",
                )
                await wait_for(lambda: _stage(worker, job_id) == "downloading")
                first = worker.active[job_id]
                requeued_at = time.monotonic()
                sql(pg_dsn, "update processing_jobs set status = 'queued' where id = %s", job_id)
                await wait_for(lambda: first.lost and first.job.id not in _old(worker, first), SLOW)
                elapsed = time.monotonic() - requeued_at
                calls_when_stopped = api4ai.calls
                # The new revision is claimed again (by this worker, once capacity is free).
                await wait_for(lambda: _revision(worker, job_id) == 1, timeout=SLOW)
                stop.set()
            await remover.aclose()
        assert elapsed < 2.5, f"stopped {elapsed:.1f} s after the requeue (heartbeat: 10 s)"
        assert calls_when_stopped == 0
        # The old claim wrote nothing; the new one was released at shutdown.
        row = sql(
            pg_dsn, "select status, revision, error from processing_jobs where id = %s", job_id
        )
        assert row == ("queued", 1, None)


def _subscribed(backend: Backend) -> bool:
    return bool(getattr(backend.wakeups, "subscriptions", 0))


async def _hints_heard(backend: Backend) -> None:
    """Until the worker's wake-ups would hear a change: Realtime subscribed, or LISTEN up. A
    change made before that is only seen at the next heartbeat (10 s here), which is the
    fallback this file does not test; on a loaded machine LISTEN can take a while to connect."""
    with anyio.fail_after(SLOW):
        while not (_subscribed(backend) or await backend.wakeups.healthy()):  # noqa: ASYNC110
            await anyio.sleep(0.02)


def _stage(worker: Worker, job_id: uuid.UUID) -> str | None:
    run = worker.active.get(job_id)
    return run.stage if run is not None else None


def _old(worker: Worker, run: Any) -> dict[uuid.UUID, Any]:
    """The claims in flight that are `run` itself (empty once it has ended)."""
    return {k: v for k, v in worker.active.items() if v is run}


def _revision(worker: Worker, job_id: uuid.UUID) -> int | None:
    run = worker.active.get(job_id)
    return run.job.revision if run is not None else None
