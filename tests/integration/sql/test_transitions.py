"""Every transition of the state machine (CONTRACT.md section 2), and every refusal."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.integration.sql.helpers import (
    Conn,
    call,
    claim,
    error_json,
    insert_jobs,
    job,
    make_due,
    scalar,
)


def _now(db: Conn) -> Any:
    row = db.execute("select now() as now").fetchone()
    assert row is not None
    return row["now"]


def test_insert_gives_a_queued_job_with_defaults(db: Conn) -> None:
    (job_id,) = insert_jobs(db, source_path="dealer/1/front.jpg", vehicle_id="VIN1")
    row = job(db, job_id)
    assert row["status"] == "queued"
    assert row["source_bucket"] == "vehicle-photos"
    assert row["options"] == {}
    assert (row["attempts"], row["max_attempts"], row["revision"], row["progress"]) == (0, 3, 0, 0)
    assert row["lease_token"] is None and row["locked_by"] is None and row["finished_at"] is None
    assert row["updated_at"] is not None and row["run_after"] <= _now(db)


def test_claim_sets_the_lease(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db, "worker-a", 1, 45)
    now = _now(db)
    assert claimed["id"] == job_id
    assert claimed["status"] == "processing"
    assert claimed["locked_by"] == "worker-a"
    assert isinstance(claimed["lease_token"], uuid.UUID)
    assert abs(claimed["lease_expires_at"] - (now + timedelta(seconds=45))) < timedelta(seconds=5)
    assert claimed["attempts"] == 1
    assert claimed["stage"] == "claimed" and claimed["progress"] == 0
    assert claimed["started_at"] is not None
    assert job(db, job_id)["lease_token"] == claimed["lease_token"]


def test_claim_order_limit_and_run_after(db: Conn) -> None:
    now = _now(db)
    (later,) = insert_jobs(db, run_after=now + timedelta(hours=1))
    (old,) = insert_jobs(db, run_after=now - timedelta(minutes=2))
    (newer,) = insert_jobs(db, run_after=now - timedelta(minutes=1))
    (urgent,) = insert_jobs(db, priority=5)
    first = claim(db, n=2)
    assert {r["id"] for r in first} == {urgent, old}  # priority first, then the longest waiting
    assert [r["id"] for r in claim(db, n=10)] == [newer]  # `later` is not due yet
    assert claim(db, n=10) == []
    assert job(db, later)["status"] == "queued"


def test_claim_tokens_are_fresh_each_time(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (first,) = claim(db)
    assert scalar(db, "release_processing_job", job_id=job_id, lease_token=first["lease_token"])
    (second,) = claim(db)
    assert second["lease_token"] != first["lease_token"]


def test_heartbeat_extends_lease_and_records_progress(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db, lease=10)
    token = claimed["lease_token"]
    assert scalar(
        db,
        "heartbeat_processing_job",
        job_id=job_id,
        lease_token=token,
        lease_seconds=300,
        stage="downloading",
        progress=20,
    )
    row = job(db, job_id)
    assert row["stage"] == "downloading" and row["progress"] == 20
    assert row["lease_expires_at"] > claimed["lease_expires_at"] + timedelta(seconds=200)
    # Nulls keep what was there.
    assert scalar(db, "heartbeat_processing_job", job_id=job_id, lease_token=token)
    row = job(db, job_id)
    assert row["stage"] == "downloading" and row["progress"] == 20


def test_complete(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    result = {"variants": {"processed": {"path": f"{job_id}/r0/processed.webp"}}, "metadata": {}}
    assert scalar(
        db,
        "complete_processing_job",
        job_id=job_id,
        lease_token=claimed["lease_token"],
        result=result,
    )
    row = job(db, job_id)
    assert row["status"] == "succeeded"
    assert row["result"] == result and row["error"] is None
    assert (row["stage"], row["progress"]) == ("done", 100)
    assert row["lease_token"] is None and row["locked_by"] is None
    assert row["lease_expires_at"] is None and row["finished_at"] is not None


def test_fail_retryable_with_attempts_left_goes_back_to_queue(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    status = scalar(
        db,
        "fail_processing_job",
        job_id=job_id,
        lease_token=claimed["lease_token"],
        error=error_json(),
    )
    assert status == "queued"
    row = job(db, job_id)
    now = _now(db)
    assert row["status"] == "queued" and row["lease_token"] is None and row["locked_by"] is None
    assert timedelta(seconds=7) < row["run_after"] - now < timedelta(seconds=13)
    assert row["error"]["code"] == "storage_failed"
    assert row["error"]["message"] == "Storage answered 503."
    assert row["error"]["retryable"] is True and row["error"]["attempt"] == 1
    assert row["error"]["at"]
    assert row["finished_at"] is None
    assert claim(db) == []  # waiting out its backoff


def test_fail_with_retry_delay(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    scalar(
        db,
        "fail_processing_job",
        job_id=job_id,
        lease_token=claimed["lease_token"],
        error=error_json("provider_rate_limited"),
        retry_delay_seconds=120,
    )
    delay = job(db, job_id)["run_after"] - _now(db)
    assert timedelta(seconds=115) < delay <= timedelta(seconds=120)


def test_fail_on_the_last_attempt_is_final(db: Conn) -> None:
    (job_id,) = insert_jobs(db, max_attempts=2)
    statuses = []
    for _ in range(2):
        make_due(db, job_id)
        (claimed,) = claim(db)
        statuses.append(
            scalar(
                db,
                "fail_processing_job",
                job_id=job_id,
                lease_token=claimed["lease_token"],
                error=error_json(),
            )
        )
    assert statuses == ["queued", "failed"]
    row = job(db, job_id)
    assert row["status"] == "failed" and row["attempts"] == 2 and row["finished_at"] is not None
    assert row["error"]["attempt"] == 2


def test_fail_permanent_is_final_at_once(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    status = scalar(
        db,
        "fail_processing_job",
        job_id=job_id,
        lease_token=claimed["lease_token"],
        error=error_json("corrupt_image", "The file is not a complete JPEG."),
        retryable=False,
    )
    assert status == "failed"
    row = job(db, job_id)
    assert row["error"]["code"] == "corrupt_image" and row["error"]["retryable"] is False
    assert row["lease_token"] is None and row["finished_at"] is not None


def test_release_requeues_now_without_counting_the_attempt(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    assert scalar(db, "release_processing_job", job_id=job_id, lease_token=claimed["lease_token"])
    row = job(db, job_id)
    assert row["status"] == "queued" and row["attempts"] == 0
    assert row["lease_token"] is None and row["run_after"] <= _now(db)
    (again,) = claim(db)
    assert again["attempts"] == 1


def _to_status(db: Conn, status: str) -> uuid.UUID:
    (job_id,) = insert_jobs(db, options={"auto_crop": True})
    if status == "queued":
        return job_id
    (claimed,) = claim(db)
    token = claimed["lease_token"]
    if status == "succeeded":
        scalar(db, "complete_processing_job", job_id=job_id, lease_token=token, result={"a": 1})
    elif status == "failed":
        scalar(
            db,
            "fail_processing_job",
            job_id=job_id,
            lease_token=token,
            error=error_json(),
            retryable=False,
        )
    elif status == "cancelled":
        db.execute("update processing_jobs set status = 'cancelled' where id = %s", (job_id,))
    return job_id


@pytest.mark.parametrize("status", ["queued", "processing", "succeeded", "failed", "cancelled"])
def test_requeue_by_hand_from_any_status(db: Conn, status: str) -> None:
    job_id = _to_status(db, status)
    before = job(db, job_id)
    assert before["status"] == status
    db.execute(
        "update processing_jobs set status = 'queued', options = '{\"auto_crop\": false}' "
        "where id = %s",
        (job_id,),
    )
    row = job(db, job_id)
    assert row["status"] == "queued"
    assert row["revision"] == before["revision"] + 1
    assert row["options"] == {"auto_crop": False}
    assert (row["attempts"], row["progress"], row["stage"], row["error"]) == (0, 0, None, None)
    assert row["lease_token"] is None and row["locked_by"] is None
    assert row["lease_expires_at"] is None and row["finished_at"] is None
    assert row["run_after"] <= _now(db)
    assert row["result"] == before["result"]  # kept until a newer success replaces it
    (claimed,) = claim(db)
    assert claimed["id"] == job_id and claimed["revision"] == row["revision"]


@pytest.mark.parametrize("status", ["queued", "processing"])
def test_cancel_by_hand(db: Conn, status: str) -> None:
    job_id = _to_status(db, status)
    db.execute("update processing_jobs set status = 'cancelled' where id = %s", (job_id,))
    row = job(db, job_id)
    assert row["status"] == "cancelled"
    assert row["lease_token"] is None and row["locked_by"] is None
    assert row["finished_at"] is not None
    assert claim(db) == []


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_cancel_leaves_finished_jobs_alone(db: Conn, status: str) -> None:
    job_id = _to_status(db, status)
    before = job(db, job_id)
    db.execute("update processing_jobs set status = 'cancelled' where id = %s", (job_id,))
    after = job(db, job_id)
    assert after["status"] == status and after["finished_at"] == before["finished_at"]


@pytest.mark.parametrize("status", ["processing", "succeeded", "failed"])
def test_other_status_changes_by_hand_are_refused(db: Conn, status: str) -> None:
    (job_id,) = insert_jobs(db)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"only queued .* and cancelled"):
        db.execute("update processing_jobs set status = %s where id = %s", (status, job_id))
    assert job(db, job_id)["status"] == "queued"


def test_the_state_functions_are_not_requeues(db: Conn) -> None:
    """fail and release set status = 'queued' without bumping the revision."""
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    scalar(
        db,
        "fail_processing_job",
        job_id=job_id,
        lease_token=claimed["lease_token"],
        error=error_json(),
    )
    make_due(db, job_id)
    (claimed,) = claim(db)
    scalar(db, "release_processing_job", job_id=job_id, lease_token=claimed["lease_token"])
    row = job(db, job_id)
    assert row["revision"] == 0 and row["attempts"] == 1


def test_writes_for_jobs_not_processing_are_refused(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    token = uuid.uuid4()
    assert scalar(db, "heartbeat_processing_job", job_id=job_id, lease_token=token) is False
    assert (
        scalar(db, "complete_processing_job", job_id=job_id, lease_token=token, result={}) is False
    )
    assert (
        scalar(db, "fail_processing_job", job_id=job_id, lease_token=token, error=error_json())
        is None
    )
    assert scalar(db, "release_processing_job", job_id=job_id, lease_token=token) is False
    assert scalar(db, "heartbeat_processing_job", job_id=uuid.uuid4(), lease_token=token) is False


def test_a_wrong_token_changes_nothing(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    claim(db)
    before = job(db, job_id)
    wrong = uuid.uuid4()
    assert (
        scalar(db, "complete_processing_job", job_id=job_id, lease_token=wrong, result={}) is False
    )
    assert (
        scalar(db, "fail_processing_job", job_id=job_id, lease_token=wrong, error=error_json())
        is None
    )
    assert scalar(db, "release_processing_job", job_id=job_id, lease_token=wrong) is False
    assert job(db, job_id) == before


@pytest.mark.parametrize(
    ("function", "args", "message"),
    [
        ("claim_processing_jobs", {"worker_id": "", "max_jobs": 1}, "worker_id"),
        ("claim_processing_jobs", {"worker_id": "w", "max_jobs": 0}, "max_jobs"),
        ("claim_processing_jobs", {"worker_id": "w", "max_jobs": 5000}, "max_jobs"),
        ("claim_processing_jobs", {"worker_id": "w", "lease_seconds": 0}, "lease_seconds"),
        ("heartbeat_processing_job", {"progress": 101}, "progress"),
        ("heartbeat_processing_job", {"progress": -1}, "progress"),
        ("heartbeat_processing_job", {"stage": "Robert'); drop table"}, "stage"),
        ("heartbeat_processing_job", {"lease_seconds": -5}, "lease_seconds"),
        ("complete_processing_job", {"result": None}, "result"),
        ("complete_processing_job", {"result": [1, 2]}, "result"),
        ("fail_processing_job", {"error": None}, "error"),
        ("fail_processing_job", {"error": ["x"]}, "error"),
        ("fail_processing_job", {"error": {"code": "x"}, "retry_delay_seconds": -1}, "retry_delay"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(
    db: Conn, function: str, args: dict[str, Any], message: str
) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    if function != "claim_processing_jobs":
        args = {"job_id": job_id, "lease_token": claimed["lease_token"], **args}
    before = job(db, job_id)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        call(db, function, **args)
    assert job(db, job_id) == before


@pytest.mark.parametrize(
    ("columns", "constraint"),
    [
        ({"progress": 101}, "processing_jobs_progress_check"),
        ({"status": "running"}, "processing_jobs_status_check"),
        ({"status": "processing"}, "processing_jobs_lease_check"),
        ({"lease_token": str(uuid.uuid4())}, "processing_jobs_lease_check"),
        (
            {"status": "failed", "finished_at": "2026-01-01T00:00:00Z"},
            "processing_jobs_failed_check",
        ),
        ({"status": "succeeded", "result": {}}, "processing_jobs_finished_check"),
        ({"max_attempts": 0}, "processing_jobs_max_attempts_check"),
        ({"source_path": ""}, "processing_jobs_source_check"),
        ({"stage": "Not A Stage"}, "processing_jobs_stage_check"),
        ({"error": "oops"}, "processing_jobs_error_check"),
    ],
)
def test_check_constraints_hold_the_invariants(
    db: Conn, columns: dict[str, Any], constraint: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
        insert_jobs(db, **columns)


def test_updated_at_moves_on_every_change(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    first = job(db, job_id)["updated_at"]
    db.execute("update processing_jobs set priority = 3 where id = %s", (job_id,))
    assert job(db, job_id)["updated_at"] > first
