"""Wake-ups: one NOTIFY per statement when jobs become claimable or cancelled, none otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.integration.sql.helpers import Conn, claim, error_json, insert_jobs, scalar

CHANNEL = "processing_jobs"


@pytest.fixture
def listener(pg_dsn: str, db: Conn) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"listen {CHANNEL}")
        yield conn


def _received(listener: psycopg.Connection[Any], settle: float = 0.3) -> list[dict[str, Any]]:
    """Every notification that arrives within `settle` seconds of the last one."""
    out: list[dict[str, Any]] = []
    while True:
        batch = list(listener.notifies(timeout=settle))
        if not batch:
            return out
        for note in batch:
            assert note.channel == CHANNEL
            out.append(json.loads(note.payload))


def test_insert_notifies_once_per_statement(db: Conn, listener: psycopg.Connection[Any]) -> None:
    insert_jobs(db, 1)
    insert_jobs(db, 250)
    notes = _received(listener)
    assert [(n["status"], n["op"], n["queued"]) for n in notes] == [
        ("queued", "insert", 1),
        ("queued", "insert", 250),
    ]


def test_bulk_requeue_sends_one_notification(db: Conn, listener: psycopg.Connection[Any]) -> None:
    insert_jobs(db, 2000)
    claim(db, n=500)
    _received(listener)
    db.execute("update processing_jobs set status = 'queued'")
    notes = _received(listener)
    assert len(notes) == 1
    assert notes[0]["status"] == "queued" and notes[0]["queued"] == 2000


def test_cancel_notifies_with_the_ids(db: Conn, listener: psycopg.Connection[Any]) -> None:
    ids = insert_jobs(db, 3)
    claim(db, n=1)
    _received(listener)
    db.execute("update processing_jobs set status = 'cancelled' where id = any(%s)", (ids[:2],))
    (note,) = _received(listener)
    assert note["status"] == "cancelled" and note["cancelled"] == 2
    assert sorted(note["cancelled_ids"]) == sorted(str(i) for i in ids[:2])


def test_a_large_cancel_does_not_list_every_id(db: Conn, listener: psycopg.Connection[Any]) -> None:
    insert_jobs(db, 500)
    _received(listener)
    db.execute("update processing_jobs set status = 'cancelled'")
    (note,) = _received(listener)
    assert note["cancelled"] == 500 and note["cancelled_ids"] == []


def test_release_wakes_other_workers(db: Conn, listener: psycopg.Connection[Any]) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    _received(listener)
    scalar(db, "release_processing_job", job_id=job_id, lease_token=claimed["lease_token"])
    (note,) = _received(listener)
    assert note["status"] == "queued" and note["queued"] == 1


def test_daemon_writes_that_claim_nothing_new_are_silent(
    db: Conn, listener: psycopg.Connection[Any]
) -> None:
    (job_id,) = insert_jobs(db)
    (claimed,) = claim(db)
    token = claimed["lease_token"]
    _received(listener)
    scalar(db, "heartbeat_processing_job", job_id=job_id, lease_token=token, progress=50)
    # A retry that must wait out its backoff is not claimable yet: no wake-up.
    scalar(db, "fail_processing_job", job_id=job_id, lease_token=token, error=error_json())
    db.execute("update processing_jobs set priority = 3")
    (other,) = insert_jobs(db, status="cancelled", finished_at="2026-01-01T00:00:00Z")
    _received(listener, settle=0.1)  # the insert of a cancelled row names it; drain
    db.execute("update processing_jobs set status = 'cancelled' where id = %s", (other,))
    assert _received(listener) == []
