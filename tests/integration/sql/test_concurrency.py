"""Concurrent claimers: every job is handed out exactly once."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import psycopg

from tests.integration.sql.helpers import Conn, insert_jobs

CLAIMERS = 16
JOBS = 10_000


def _claimer(dsn: str, worker: str, seed: int, start: threading.Barrier, out: list[Any]) -> None:
    rng = random.Random(seed)
    got: list[Any] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("set role service_role")
        start.wait()
        empty_in_a_row = 0
        while empty_in_a_row < 3:
            rows = conn.execute(
                "select id, locked_by from public.claim_processing_jobs(%s, %s, 60)",
                (worker, rng.choice((1, 2, 5, 10))),
            ).fetchall()
            empty_in_a_row = 0 if rows else empty_in_a_row + 1
            assert all(r[1] == worker for r in rows)
            got.extend(r[0] for r in rows)
    out.append(got)


def test_sixteen_claimers_over_ten_thousand_jobs_claim_each_exactly_once(
    db: Conn, pg_dsn: str
) -> None:
    insert_jobs(db, JOBS)
    start = threading.Barrier(CLAIMERS)
    results: list[list[Any]] = []
    threads = [
        threading.Thread(target=_claimer, args=(pg_dsn, f"worker-{i}", i, start, results))
        for i in range(CLAIMERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == CLAIMERS, "a claimer failed"
    claimed = Counter(job_id for got in results for job_id in got)
    assert len(claimed) == JOBS
    assert max(claimed.values()) == 1
    assert sum(1 for got in results if got) > 1  # the work was actually shared
    row = db.execute(
        "select count(*) filter (where status = 'processing') as processing, "
        "count(*) filter (where attempts = 1) as once, count(distinct lease_token) as tokens "
        "from processing_jobs"
    ).fetchone()
    assert row == {"processing": JOBS, "once": JOBS, "tokens": JOBS}
