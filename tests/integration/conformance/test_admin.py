"""The JobAdmin port (what `enqueue` and `status` use) behaves the same on every backend."""

from __future__ import annotations

import pytest

from daemon.ports import JobAdmin, JobQueue
from tests.integration.conformance.conftest import Jobs, MemoryJobs, SqlJobs

pytestmark = pytest.mark.anyio


@pytest.fixture
def admin(kind: str, jobs: Jobs, request: pytest.FixtureRequest) -> JobAdmin:
    if kind == "memory":
        from daemon.adapters.memory import MemoryAdmin

        assert isinstance(jobs, MemoryJobs)
        return MemoryAdmin(jobs.table)
    if kind == "postgres":
        from daemon.adapters.admin import PostgresAdmin

        assert isinstance(jobs, SqlJobs)
        return PostgresAdmin(jobs.dsn)
    from daemon.adapters.admin import SupabaseAdmin

    double = request.getfixturevalue("supabase_double")
    return SupabaseAdmin(double.url, double.service_key)


async def test_insert_then_summary(admin: JobAdmin, queue: JobQueue, jobs: Jobs) -> None:
    ids = [
        await admin.insert_job(
            source_bucket="vehicle-photos",
            source_path=f"lot-9/{n}.jpg",
            vehicle_id="lot-9",
            options={"padding_percent": 0.1},
            priority=n,
        )
        for n in range(3)
    ]
    row = jobs.row(ids[2])
    assert (row["vehicle_id"], row["priority"], row["options"]) == (
        "lot-9",
        2,
        {"padding_percent": 0.1},
    )
    [claimed] = await queue.claim("worker-a", 1, 30)
    assert str(claimed.id) == ids[2]  # the highest priority first
    summary = await admin.summary(job_ids=ids[:1])
    assert summary.counts["queued"] == 2 and summary.counts["processing"] == 1
    assert summary.workers == {"worker-a": 1}
    assert summary.oldest_queued_seconds is not None and summary.oldest_queued_seconds >= 0
    assert [str(j["id"]) for j in summary.jobs] == ids[:1]
    assert summary.jobs[0]["status"] == "queued"
