"""Leases: stale claims are fenced off, expired leases are rescued, retries back off."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.sql.helpers import (
    Conn,
    call,
    claim,
    error_json,
    expire_lease,
    insert_jobs,
    job,
    make_due,
    scalar,
)


def _rescue(db: Conn, job_id: uuid.UUID) -> None:
    expire_lease(db, job_id)
    (rescued,) = claim(db, "worker-b")
    assert rescued["id"] == job_id


def _requeue(db: Conn, job_id: uuid.UUID) -> None:
    db.execute("update processing_jobs set status = 'queued' where id = %s", (job_id,))


def _requeue_and_reclaim(db: Conn, job_id: uuid.UUID) -> None:
    _requeue(db, job_id)
    (again,) = claim(db, "worker-b")
    assert again["id"] == job_id


def _cancel(db: Conn, job_id: uuid.UUID) -> None:
    db.execute("update processing_jobs set status = 'cancelled' where id = %s", (job_id,))


STALE_WRITES: dict[str, Callable[[Conn, uuid.UUID, uuid.UUID], Any]] = {
    "heartbeat": lambda db, j, t: scalar(
        db, "heartbeat_processing_job", job_id=j, lease_token=t, stage="uploading", progress=90
    ),
    "complete": lambda db, j, t: scalar(
        db, "complete_processing_job", job_id=j, lease_token=t, result={"late": True}
    ),
    "fail": lambda db, j, t: scalar(
        db, "fail_processing_job", job_id=j, lease_token=t, error=error_json(), retryable=False
    ),
    "release": lambda db, j, t: scalar(db, "release_processing_job", job_id=j, lease_token=t),
}


@pytest.mark.parametrize("write", sorted(STALE_WRITES))
@pytest.mark.parametrize(
    "lose", [_rescue, _requeue, _requeue_and_reclaim, _cancel], ids=lambda f: f.__name__[1:]
)
def test_a_stale_claim_is_refused_and_changes_nothing(
    db: Conn, lose: Callable[[Conn, uuid.UUID], None], write: str
) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db, "worker-a")
    lose(db, job_id)
    before = job(db, job_id)
    answer = STALE_WRITES[write](db, job_id, claimed["lease_token"])
    assert answer in (False, None)
    assert job(db, job_id) == before


def test_an_expired_lease_is_rescued_by_the_next_claim(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (first,) = claim(db, "worker-a")
    assert claim(db, "worker-b") == []  # the lease still holds
    expire_lease(db, job_id)
    (rescued,) = claim(db, "worker-b")
    assert rescued["id"] == job_id
    assert rescued["locked_by"] == "worker-b"
    assert rescued["lease_token"] != first["lease_token"]
    assert rescued["attempts"] == 2
    assert rescued["error"]["code"] == "lease_expired" and rescued["error"]["retryable"] is True


def test_an_expired_lease_without_attempts_left_fails_as_lease_expired(db: Conn) -> None:
    (job_id,) = insert_jobs(db, max_attempts=1)
    claim(db, "worker-a")
    expire_lease(db, job_id)
    (other,) = insert_jobs(db, source_path="other.jpg")
    claimed = claim(db, "worker-b", n=5)
    assert [r["id"] for r in claimed] == [other]
    row = job(db, job_id)
    assert row["status"] == "failed"
    assert row["error"]["code"] == "lease_expired" and row["error"]["retryable"] is False
    assert row["error"]["attempt"] == 1
    assert row["lease_token"] is None and row["finished_at"] is not None


def test_a_rescued_job_is_claimed_in_priority_order(db: Conn) -> None:
    (low,) = insert_jobs(db, priority=0)
    (high,) = insert_jobs(db, priority=9)
    (claimed,) = claim(db, "worker-a")
    assert claimed["id"] == high
    expire_lease(db, high)
    (next_one,) = claim(db, "worker-b")
    assert next_one["id"] == high  # rescued before the lower-priority queued job
    assert claim(db, "worker-b")[0]["id"] == low


def test_backoff_grows_with_jitter_and_caps_at_15_minutes(db: Conn) -> None:
    rows = call_delays(db)
    for attempt, low, high in rows:
        expected = min(900.0, 10.0 * 2 ** (attempt - 1))
        assert low >= min(expected * 0.8, 900.0) - 0.01, attempt
        assert high <= min(expected * 1.2, 900.0) + 0.01, attempt
        assert high - low > 0.05 * min(expected, 720.0), attempt  # jitter spreads retries
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)
    assert rows[-1][2] <= 900.0


def call_delays(db: Conn) -> list[tuple[int, float, float]]:
    """(attempt, min, max) of 200 draws of the backoff for each attempt 1..12."""
    out = db.execute(
        """select a as attempt,
                  min(extract(epoch from public.processing_jobs_retry_delay(a))) as low,
                  max(extract(epoch from public.processing_jobs_retry_delay(a))) as high
           from generate_series(1, 12) a, generate_series(1, 200)
           group by a order by a"""
    ).fetchall()
    return [(r["attempt"], float(r["low"]), float(r["high"])) for r in out]


def test_failed_retries_wait_longer_each_time(db: Conn) -> None:
    (job_id,) = insert_jobs(db, max_attempts=8)
    waits = []
    for _ in range(7):
        make_due(db, job_id)
        (claimed,) = claim(db)
        status = scalar(
            db,
            "fail_processing_job",
            job_id=job_id,
            lease_token=claimed["lease_token"],
            error=error_json("provider_unavailable"),
        )
        assert status == "queued"
        row = db.execute(
            "select extract(epoch from run_after - now()) as wait from processing_jobs "
            "where id = %s",
            (job_id,),
        ).fetchone()
        assert row is not None
        waits.append(float(row["wait"]))
    for attempt, wait in enumerate(waits, start=1):
        expected = min(900.0, 10.0 * 2 ** (attempt - 1))
        assert expected * 0.8 - 1 <= wait <= min(expected * 1.2, 900.0) + 1, (attempt, waits)
    assert waits[-1] <= 900.0


def test_release_does_not_count_an_attempt(db: Conn) -> None:
    (job_id,) = insert_jobs(db, max_attempts=1)
    for _ in range(3):
        (claimed,) = claim(db)
        assert claimed["attempts"] == 1
        assert scalar(
            db, "release_processing_job", job_id=job_id, lease_token=claimed["lease_token"]
        )
    row = job(db, job_id)
    assert row["status"] == "queued" and row["attempts"] == 0
    # Its only attempt is still there: a transient failure now is final.
    (claimed,) = claim(db)
    assert (
        scalar(
            db,
            "fail_processing_job",
            job_id=job_id,
            lease_token=claimed["lease_token"],
            error=error_json(),
        )
        == "failed"
    )


def test_a_heartbeat_keeps_the_lease_from_being_rescued(db: Conn) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db, "worker-a", lease=1)
    expire_lease(db, job_id)
    assert scalar(
        db,
        "heartbeat_processing_job",
        job_id=job_id,
        lease_token=claimed["lease_token"],
        lease_seconds=60,
    )
    assert claim(db, "worker-b") == []
    assert call(db, "claim_processing_jobs", worker_id="worker-c") == []


def test_heartbeats_are_hot_updates(db: Conn) -> None:
    """Heartbeats touch no indexed column, so they rewrite the row in place (no index churn)."""
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    counts = (
        "select pg_stat_get_xact_tuples_updated(c.oid) as updated, "
        "pg_stat_get_xact_tuples_hot_updated(c.oid) as hot "
        "from pg_class c where c.oid = 'public.processing_jobs'::regclass"
    )
    with db.transaction():
        before = db.execute(counts).fetchone()
        db.execute("set local role service_role")
        for progress in range(10, 100, 10):
            row = db.execute(
                "select public.heartbeat_processing_job(%s, %s, 60, 'rendering', %s) as ok",
                (job_id, claimed["lease_token"], progress),
            ).fetchone()
            assert row == {"ok": True}
        after = db.execute(counts).fetchone()
    assert before is not None and after is not None
    assert after["updated"] - before["updated"] == 9
    assert after["hot"] - before["hot"] == 9
    options = db.execute(
        "select reloptions from pg_class where oid = 'public.processing_jobs'::regclass"
    ).fetchone()
    assert options is not None and "fillfactor=70" in options["reloptions"]
