"""The JobQueue port behaves the same on every backend."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from daemon.ports import JobQueue

pytestmark = pytest.mark.anyio

LEASE = 30


def insert(dsn: str, n: int = 1, **cols: Any) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [
            str(
                conn.execute(
                    "insert into processing_jobs (source_path, priority) values (%s, %s)"
                    " returning id",
                    (f"conformance/{i}.jpg", cols.get("priority", 0)),
                ).fetchone()[0]  # type: ignore[index]
            )
            for i in range(n)
        ]


def row(dsn: str, job_id: Any) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        found = conn.execute("select * from processing_jobs where id = %s", (job_id,)).fetchone()
        assert found is not None
        return found


async def test_claim_hands_out_each_job_once_in_priority_order(
    queue: JobQueue, clean_jobs: str
) -> None:
    low = insert(clean_jobs, 2)
    high = insert(clean_jobs, 1, priority=5)
    first = await queue.claim("worker-a", 1, LEASE)
    assert [str(j.id) for j in first] == high
    rest = await queue.claim("worker-b", 10, LEASE)
    assert sorted(str(j.id) for j in rest) == sorted(low)
    assert await queue.claim("worker-c", 10, LEASE) == []
    job = first[0]
    assert job.source_bucket == "vehicle-photos" and job.source_path == "conformance/0.jpg"
    assert job.attempts == 1 and job.revision == 0 and isinstance(job.lease_token, uuid.UUID)
    assert row(clean_jobs, job.id)["locked_by"] == "worker-a"


async def test_heartbeat_records_stage_and_refuses_a_stale_token(
    queue: JobQueue, clean_jobs: str
) -> None:
    insert(clean_jobs)
    [job] = await queue.claim("worker-a", 1, LEASE)
    assert await queue.heartbeat(job.id, job.lease_token, LEASE, "rendering", 80) is True
    current = row(clean_jobs, job.id)
    assert (current["stage"], current["progress"]) == ("rendering", 80)
    assert await queue.heartbeat(job.id, uuid.uuid4(), LEASE, "uploading", 90) is False
    assert row(clean_jobs, job.id)["stage"] == "rendering"


async def test_complete_once_then_refuse(queue: JobQueue, clean_jobs: str) -> None:
    insert(clean_jobs)
    [job] = await queue.claim("worker-a", 1, LEASE)
    result = {"variants": {}, "metadata": {"revision": 0}}
    assert await queue.complete(job.id, job.lease_token, result) is True
    done = row(clean_jobs, job.id)
    assert (done["status"], done["stage"], done["progress"]) == ("succeeded", "done", 100)
    assert done["result"] == result and done["lease_token"] is None
    assert await queue.complete(job.id, job.lease_token, {"late": True}) is False
    assert row(clean_jobs, job.id)["result"] == result


async def test_fail_retryable_requeues_with_delay_and_permanent_fails(
    queue: JobQueue, clean_jobs: str
) -> None:
    insert(clean_jobs, 2)
    a, b = await queue.claim("worker-a", 2, LEASE)
    error = {"code": "provider_unavailable", "message": "Down.", "retryable": True}
    assert await queue.fail(a.id, a.lease_token, error, True, 120) == "queued"
    requeued = row(clean_jobs, a.id)
    assert requeued["error"]["code"] == "provider_unavailable"
    with psycopg.connect(clean_jobs) as conn:
        delay = conn.execute(
            "select extract(epoch from run_after - now()) from processing_jobs where id = %s",
            (a.id,),
        ).fetchone()[0]  # type: ignore[index]
    assert 100 < float(delay) <= 121
    permanent = {"code": "corrupt_image", "message": "Broken.", "retryable": False}
    assert await queue.fail(b.id, b.lease_token, permanent, False) == "failed"
    assert row(clean_jobs, b.id)["status"] == "failed"
    assert await queue.fail(b.id, b.lease_token, permanent, False) is None  # stale now


async def test_release_gives_the_job_back_without_counting_the_attempt(
    queue: JobQueue, clean_jobs: str
) -> None:
    insert(clean_jobs)
    [job] = await queue.claim("worker-a", 1, LEASE)
    assert await queue.release(job.id, job.lease_token) is True
    released = row(clean_jobs, job.id)
    assert released["status"] == "queued" and released["attempts"] == 0
    assert await queue.release(job.id, job.lease_token) is False
    [again] = await queue.claim("worker-b", 1, LEASE)
    assert again.id == job.id and again.lease_token != job.lease_token


async def test_ping_answers(queue: JobQueue) -> None:
    await queue.ping()
