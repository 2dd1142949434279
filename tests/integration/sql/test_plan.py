"""The claim's plan on a 100,000-row table: the partial indexes, never a scan of the table."""

from __future__ import annotations

from tests.integration.sql.helpers import Conn, claim, insert_jobs


def _plans_of_one_claim(db: Conn) -> str:
    """The plans of every statement inside claim_processing_jobs, from auto_explain."""
    notices: list[str] = []
    db.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    db.execute("load 'auto_explain'")
    for setting, value in {
        "auto_explain.log_min_duration": "0",
        "auto_explain.log_nested_statements": "on",
        "auto_explain.log_level": "notice",
    }.items():
        db.execute("select set_config(%s, %s, false)", (setting, value))
    try:
        claim(db, "planner", n=10)
    finally:
        db.execute("select set_config('auto_explain.log_min_duration', '-1', false)")
    return "\n".join(notices)


def test_the_claim_uses_the_partial_indexes_on_a_large_table(db: Conn) -> None:
    db.execute(
        """insert into processing_jobs
             (source_path, status, result, progress, finished_at, created_at, run_after)
           select 'done/' || g, 'succeeded', '{}', 100, now(), now() - g * interval '1 second',
                  now() - g * interval '1 second'
           from generate_series(1, 97000) g"""
    )
    insert_jobs(db, 3000)
    claim(db, "warm-up", n=20)  # some rows in flight
    db.execute("analyze processing_jobs")
    plans = _plans_of_one_claim(db)
    assert "Index Scan using processing_jobs_claim_idx" in plans
    assert "processing_jobs_in_flight_idx" in plans
    assert "Seq Scan on processing_jobs" not in plans
