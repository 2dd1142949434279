"""Fixtures for the daemon tests: a clean queue per test, a storage folder, a completion audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.acceptance.daemon.harness import Env

# Every transition to succeeded, recorded by the database itself: "exactly one completion" is then
# a fact about the table, not about what a daemon says it did.
AUDIT_SQL = """
create table if not exists test_completions (
    job_id uuid not null,
    revision int not null,
    worker text,
    at timestamptz default clock_timestamp()
);
create or replace function test_record_completion() returns trigger language plpgsql as $$
begin
    insert into public.test_completions (job_id, revision, worker)
    values (new.id, new.revision, new.result->'metadata'->>'worker');
    return new;
end $$;
drop trigger if exists test_record_completion on processing_jobs;
create trigger test_record_completion after update of status on processing_jobs
    for each row when (new.status = 'succeeded' and old.status is distinct from 'succeeded')
    execute function test_record_completion();
"""


@pytest.fixture
def env(pg_dsn: str, tmp_path: Path) -> Iterator[Env]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(AUDIT_SQL)
        conn.execute("truncate processing_jobs, processing_presets, test_completions")
    storage = tmp_path / "storage"
    storage.mkdir()
    yield Env(dsn=pg_dsn, storage=storage)
