"""The JobQueue port behaves the same on every backend."""

from __future__ import annotations

import uuid

import pytest

from daemon.ports import JobQueue
from tests.integration.conformance.conftest import Jobs

pytestmark = pytest.mark.anyio

LEASE = 30


async def test_claim_hands_out_each_job_once_in_priority_order(queue: JobQueue, jobs: Jobs) -> None:
    low = jobs.insert(2)
    high = jobs.insert(1, priority=5)
    first = await queue.claim("worker-a", 1, LEASE)
    assert [str(j.id) for j in first] == high
    rest = await queue.claim("worker-b", 10, LEASE)
    assert sorted(str(j.id) for j in rest) == sorted(low)
    assert await queue.claim("worker-c", 10, LEASE) == []
    job = first[0]
    assert job.source_bucket == "vehicle-photos" and job.source_path == "conformance/0.jpg"
    assert job.attempts == 1 and job.revision == 0 and isinstance(job.lease_token, uuid.UUID)
    assert jobs.row(job.id)["locked_by"] == "worker-a"


async def test_heartbeat_records_stage_and_refuses_a_stale_token(
    queue: JobQueue, jobs: Jobs
) -> None:
    jobs.insert()
    [job] = await queue.claim("worker-a", 1, LEASE)
    assert await queue.heartbeat(job.id, job.lease_token, LEASE, "rendering", 80) is True
    current = jobs.row(job.id)
    assert (current["stage"], current["progress"]) == ("rendering", 80)
    assert await queue.heartbeat(job.id, uuid.uuid4(), LEASE, "uploading", 90) is False
    assert jobs.row(job.id)["stage"] == "rendering"


async def test_complete_once_then_refuse(queue: JobQueue, jobs: Jobs) -> None:
    jobs.insert()
    [job] = await queue.claim("worker-a", 1, LEASE)
    result = {"variants": {}, "metadata": {"revision": 0}}
    assert await queue.complete(job.id, job.lease_token, result) is True
    done = jobs.row(job.id)
    assert (done["status"], done["stage"], done["progress"]) == ("succeeded", "done", 100)
    assert done["result"] == result and done["lease_token"] is None
    assert await queue.complete(job.id, job.lease_token, {"late": True}) is False
    assert jobs.row(job.id)["result"] == result


async def test_fail_retryable_requeues_with_delay_and_permanent_fails(
    queue: JobQueue, jobs: Jobs
) -> None:
    jobs.insert(2)
    a, b = await queue.claim("worker-a", 2, LEASE)
    error = {"code": "provider_unavailable", "message": "Down.", "retryable": True}
    assert await queue.fail(a.id, a.lease_token, error, True, 120) == "queued"
    requeued = jobs.row(a.id)
    assert requeued["error"]["code"] == "provider_unavailable"
    assert 100 < jobs.retry_in(a.id) <= 121
    permanent = {"code": "corrupt_image", "message": "Broken.", "retryable": False}
    assert await queue.fail(b.id, b.lease_token, permanent, False) == "failed"
    assert jobs.row(b.id)["status"] == "failed"
    assert await queue.fail(b.id, b.lease_token, permanent, False) is None  # stale now


async def test_release_gives_the_job_back_without_counting_the_attempt(
    queue: JobQueue, jobs: Jobs
) -> None:
    jobs.insert()
    [job] = await queue.claim("worker-a", 1, LEASE)
    assert await queue.release(job.id, job.lease_token) is True
    released = jobs.row(job.id)
    assert released["status"] == "queued" and released["attempts"] == 0
    assert await queue.release(job.id, job.lease_token) is False
    [again] = await queue.claim("worker-b", 1, LEASE)
    assert again.id == job.id and again.lease_token != job.lease_token


async def test_ping_answers(queue: JobQueue) -> None:
    await queue.ping()


async def test_an_expired_lease_is_rescued_and_the_old_token_is_fenced(
    queue: JobQueue, jobs: Jobs
) -> None:
    [job_id] = jobs.insert()
    [first] = await queue.claim("worker-a", 1, LEASE)
    jobs.expire_lease(job_id)
    [again] = await queue.claim("worker-b", 1, LEASE)
    assert again.id == first.id and again.lease_token != first.lease_token
    assert again.attempts == 2
    assert jobs.row(job_id)["error"]["code"] == "lease_expired"
    # The first worker's late writes are refused; the rescuer's are not.
    assert await queue.heartbeat(first.id, first.lease_token, LEASE) is False
    assert await queue.complete(first.id, first.lease_token, {"late": True}) is False
    assert await queue.complete(again.id, again.lease_token, {"variants": {}}) is True


async def test_an_expired_lease_with_no_attempts_left_fails_with_lease_expired(
    queue: JobQueue, jobs: Jobs
) -> None:
    [job_id] = jobs.insert()
    for worker in ("worker-a", "worker-b", "worker-c"):  # max_attempts is 3
        [claimed] = await queue.claim(worker, 1, LEASE)
        jobs.expire_lease(job_id)
    assert await queue.claim("worker-d", 1, LEASE) == []
    failed = jobs.row(job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "lease_expired"
    assert failed["error"]["retryable"] is False and claimed.attempts == 3


async def test_cancel_and_requeue_end_the_claim(queue: JobQueue, jobs: Jobs) -> None:
    a, b = jobs.insert(2)
    claimed = {str(j.id): j for j in await queue.claim("worker-a", 2, LEASE)}
    jobs.cancel(a)
    jobs.requeue(b)
    for job_id in (a, b):
        job = claimed[job_id]
        assert await queue.heartbeat(job.id, job.lease_token, LEASE) is False
        assert await queue.fail(job.id, job.lease_token, {"code": "x"}, True) is None
    assert jobs.row(a)["status"] == "cancelled"
    requeued = jobs.row(b)
    assert (requeued["status"], requeued["revision"], requeued["attempts"]) == ("queued", 1, 0)
    [again] = await queue.claim("worker-b", 1, LEASE)
    assert str(again.id) == b and again.revision == 1
