"""SupabaseQueue against the double: the contract's functions as RPC with named arguments."""

from __future__ import annotations

import uuid

import pytest
from postgrest.exceptions import APIError

from daemon.adapters.supabase import (
    RPC_TIMEOUT,
    SupabaseAuthError,
    SupabaseQueue,
    SupabaseQueueError,
    make_client,
)
from daemon.adapters.supabase.errors import classify_api_error
from daemon.ports import QueueUnavailable
from tests.doubles.supabase import SupabaseDouble
from tests.integration.supabase.conftest import Admin

pytestmark = pytest.mark.anyio


async def test_claim_maps_rows_to_claimed_jobs(queue: SupabaseQueue, admin: Admin) -> None:
    first = await admin.insert(
        source_path="lot/a.jpg", vehicle_id="v1", priority=5, options={"auto_crop": False}
    )
    await admin.insert(source_path="lot/b.jpg")

    claimed = await queue.claim("worker-1", 1, 30)

    assert len(claimed) == 1
    job = claimed[0]
    assert str(job.id) == first["id"]  # the higher priority first
    assert job.source_bucket == "vehicle-photos"
    assert job.source_path == "lot/a.jpg"
    assert job.vehicle_id == "v1"
    assert job.options == {"auto_crop": False}
    assert job.priority == 5
    assert job.attempts == 1
    assert (job.revision, job.max_attempts) == (0, 3)  # the rest of the row maps too
    row = await admin.get(first["id"])
    assert row["status"] == "processing"
    assert row["locked_by"] == "worker-1"
    assert row["lease_token"] == str(job.lease_token)


async def test_heartbeat_complete_and_stale_claims(queue: SupabaseQueue, admin: Admin) -> None:
    inserted = await admin.insert()
    [job] = await queue.claim("worker-1", 5, 30)
    stale = uuid.uuid4()

    assert await queue.heartbeat(job.id, job.lease_token, 30, stage="cropping", progress=40)
    row = await admin.get(inserted["id"])
    assert (row["stage"], row["progress"]) == ("cropping", 40)
    assert await queue.heartbeat(job.id, stale, 30) is False
    assert await queue.complete(job.id, stale, {"variants": {}}) is False
    assert await queue.complete(job.id, job.lease_token, {"variants": {"grid": {}}}) is True
    assert await queue.complete(job.id, job.lease_token, {"variants": {}}) is False
    row = await admin.get(inserted["id"])
    assert row["status"] == "succeeded"
    assert row["result"] == {"variants": {"grid": {}}}


async def test_fail_returns_the_new_status_or_none(queue: SupabaseQueue, admin: Admin) -> None:
    await admin.insert(max_attempts=1)
    [job] = await queue.claim("worker-1", 1, 30)
    error = {"code": "storage_failed", "message": "x", "retryable": True, "attempt": 1, "at": None}

    assert await queue.fail(job.id, uuid.uuid4(), error, True) is None
    assert await queue.fail(job.id, job.lease_token, error, False) == "failed"


async def test_release_gives_the_job_back(queue: SupabaseQueue, admin: Admin) -> None:
    inserted = await admin.insert()
    [job] = await queue.claim("worker-1", 1, 30)

    assert await queue.release(job.id, job.lease_token) is True
    assert await queue.release(job.id, job.lease_token) is False
    assert (await admin.get(inserted["id"]))["status"] == "queued"


async def test_ping_and_depth(queue: SupabaseQueue) -> None:
    await queue.ping()
    assert await queue.queue_depth() is None


async def test_wrong_key_is_an_auth_error(sb: SupabaseDouble) -> None:
    queue = SupabaseQueue(make_client(sb.url, sb.wrong_service_key, RPC_TIMEOUT))
    try:
        with pytest.raises(SupabaseAuthError, match="SUPABASE_SERVICE_ROLE_KEY"):
            await queue.ping()
    finally:
        await queue.aclose()


async def test_anon_key_is_refused_by_the_database(sb: SupabaseDouble) -> None:
    # A valid key of the wrong role: PostgREST runs as anon, which may not execute the functions.
    queue = SupabaseQueue(make_client(sb.url, sb.anon_key, RPC_TIMEOUT))
    try:
        with pytest.raises(SupabaseAuthError):
            await queue.claim("worker-1", 1, 30)
    finally:
        await queue.aclose()


async def test_missing_function_is_not_transient(queue: SupabaseQueue) -> None:
    with pytest.raises(SupabaseQueueError, match="migrations"):
        await queue._call("claim_processing_jobs_v9", {"worker_id": "w"})


async def test_html_502_and_pgrst000_are_transient(
    queue: SupabaseQueue, sb: SupabaseDouble
) -> None:
    sb.fail_rest_next(1)
    with pytest.raises(QueueUnavailable, match="502"):
        await queue.claim("worker-1", 1, 30)
    sb.fail_rest_next(1, status=503, html=False)
    with pytest.raises(QueueUnavailable, match="PGRST000"):
        await queue.ping()
    assert await queue.claim("worker-1", 1, 30) == []


async def test_unreachable_server_is_transient() -> None:
    queue = SupabaseQueue(make_client("http://127.0.0.1:9", "k", RPC_TIMEOUT))
    try:
        with pytest.raises(QueueUnavailable):
            await queue.ping()
    finally:
        await queue.aclose()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": "PGRST301", "message": "JWSError JWSInvalidSignature"}, SupabaseAuthError),
        ({"code": None, "message": "Invalid API key"}, SupabaseAuthError),
        ({"code": "42501", "message": "permission denied for function x"}, SupabaseAuthError),
        ({"code": "502", "message": "Bad Gateway", "details": "<html>"}, QueueUnavailable),
        ({"code": "PGRST000", "message": "Could not connect"}, QueueUnavailable),
        (
            {"code": "57014", "message": "canceling statement due to statement timeout"},
            QueueUnavailable,
        ),
        ({"code": "40P01", "message": "deadlock detected"}, QueueUnavailable),
        ({"code": "PGRST202", "message": "Could not find the function"}, SupabaseQueueError),
        ({"code": "22P02", "message": "invalid input syntax for type uuid"}, SupabaseQueueError),
        ({"code": "P0001", "message": "raised by the function"}, SupabaseQueueError),
        ({"code": None, "message": "API rate limit exceeded"}, QueueUnavailable),
        ({"code": "429", "message": "Too Many Requests"}, QueueUnavailable),
        ({"code": "404", "message": "Not Found", "details": "<html>"}, QueueUnavailable),
    ],
)
def test_api_errors_are_classified(error: dict[str, str | None], expected: type) -> None:
    assert isinstance(classify_api_error(APIError(error), call="f"), expected)
