"""The Wakeups port behaves the same on every source: a hint when work may be there, and the
job of a cancel named in its hint (with its revision where the source sends the row)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

from daemon.ports import Hint, Wakeups
from tests.integration.conformance.conftest import Jobs, MemoryJobs, SqlJobs

pytestmark = pytest.mark.anyio


@pytest.fixture
async def wakeups(kind: str, jobs: Jobs, request: pytest.FixtureRequest) -> AsyncIterator[Wakeups]:
    source: Wakeups
    if kind == "memory":
        from daemon.adapters.memory import MemoryWakeups

        assert isinstance(jobs, MemoryJobs)
        source = MemoryWakeups(jobs.table)
    elif kind == "postgres":
        from daemon.adapters.postgres import PostgresWakeups

        assert isinstance(jobs, SqlJobs)
        source = PostgresWakeups(jobs.dsn)
    else:
        from daemon.adapters.supabase import SupabaseWakeups

        double = request.getfixturevalue("supabase_double")
        source = SupabaseWakeups(double.url, double.service_key, backoff_initial=0.05)
    yield source
    await source.aclose()


class Listener:
    """Reads a source's hints in the background, as the worker does."""

    def __init__(self, wakeups: Wakeups) -> None:
        self.wakeups = wakeups
        self.send, self.receive = anyio.create_memory_object_stream[Hint](1000)

    async def run(self) -> None:
        async for hint in self.wakeups.hints():
            await self.send.send(hint)

    async def ready(self) -> None:
        with anyio.fail_after(10):
            while not await self.wakeups.healthy():  # noqa: ASYNC110 - as /health reads it
                await anyio.sleep(0.02)

    async def next(self, *, skip: tuple[str, ...] = ("resubscribed",)) -> Hint:
        with anyio.fail_after(5):
            while True:
                hint = await self.receive.receive()
                if hint.reason not in skip:
                    return hint


async def test_insert_cancel_and_requeue_are_hints(wakeups: Wakeups, jobs: Jobs) -> None:
    listener = Listener(wakeups)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.run)
        await listener.ready()

        [job_id] = jobs.insert()
        inserted = await listener.next()
        assert inserted.reason in ("insert", "queued") and inserted.changes == ()

        jobs.cancel(job_id)
        cancelled = await listener.next()
        assert cancelled.reason == "cancelled"
        [change] = cancelled.changes
        assert (change.job_id, change.status) == (uuid.UUID(job_id), "cancelled")
        assert change.revision in (0, None)  # NOTIFY names the job without its revision
        assert change.verdict(0) in ("stale", "check")

        jobs.requeue(job_id)
        requeued = await listener.next()
        assert requeued.reason == "queued"
        for change in requeued.changes:  # NOTIFY does not name requeued jobs
            assert (change.job_id, change.status, change.revision) == (
                uuid.UUID(job_id),
                "queued",
                1,
            )
            assert change.verdict(0) == "stale"
        tg.cancel_scope.cancel()
