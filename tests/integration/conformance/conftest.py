"""One suite, every adapter of every port: the JobQueue, ObjectStore, Wakeups and
BackgroundRemover ports on the in-memory adapters, on Postgres (and the filesystem), and on
Supabase (through the Supabase double on the same real Postgres), in the spirit of River's
driver conformance suite. The in-memory adapters run without a database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest
from psycopg.rows import dict_row

from daemon.adapters.filesystem import FilesystemStore
from daemon.adapters.memory import MemoryQueue, MemoryStore, MemoryTable
from daemon.adapters.postgres.queue import PostgresQueue
from daemon.ports import JobQueue, ObjectStore

BACKENDS = ["memory", "postgres", "supabase"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Jobs(Protocol):
    """What people do to the jobs table (insert, cancel, requeue) and what a test reads."""

    def insert(self, n: int = 1, priority: int = 0) -> list[str]: ...

    def row(self, job_id: Any) -> dict[str, Any]: ...

    def retry_in(self, job_id: Any) -> float: ...

    def cancel(self, job_id: Any) -> None: ...

    def requeue(self, job_id: Any) -> None: ...

    def expire_lease(self, job_id: Any) -> None: ...


class SqlJobs:
    """Jobs in the real table: the same rows for the Postgres and the Supabase adapters."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def _run(self, statement: str, *args: Any) -> Any:
        with psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row) as conn:
            cur = conn.execute(statement, args)
            return cur.fetchall() if cur.description else None

    def insert(self, n: int = 1, priority: int = 0) -> list[str]:
        return [
            str(
                self._run(
                    "insert into processing_jobs (source_path, priority) values (%s, %s)"
                    " returning id",
                    f"conformance/{i}.jpg",
                    priority,
                )[0]["id"]
            )
            for i in range(n)
        ]

    def row(self, job_id: Any) -> dict[str, Any]:
        found = self._run("select * from processing_jobs where id = %s", job_id)
        assert found
        return dict(found[0])

    def retry_in(self, job_id: Any) -> float:
        found = self._run(
            "select extract(epoch from run_after - now())::float8 s from processing_jobs"
            " where id = %s",
            job_id,
        )
        return float(found[0]["s"])

    def cancel(self, job_id: Any) -> None:
        self._run("update processing_jobs set status = 'cancelled' where id = %s", job_id)

    def requeue(self, job_id: Any) -> None:
        self._run("update processing_jobs set status = 'queued' where id = %s", job_id)

    def expire_lease(self, job_id: Any) -> None:
        # As time passing would: the state functions' own writes bypass the status trigger.
        self._run(
            "update processing_jobs set lease_expires_at = now() - interval '1 second'"
            " where id = %s",
            job_id,
        )


class MemoryJobs:
    """Jobs in a MemoryTable."""

    def __init__(self) -> None:
        self.table = MemoryTable()

    def insert(self, n: int = 1, priority: int = 0) -> list[str]:
        return [str(self.table.insert(f"conformance/{i}.jpg", priority=priority)) for i in range(n)]

    def row(self, job_id: Any) -> dict[str, Any]:
        return self.table.rows[uuid.UUID(str(job_id))].as_dict()

    def retry_in(self, job_id: Any) -> float:
        return self.table.rows[uuid.UUID(str(job_id))].run_after - self.table.clock()

    def cancel(self, job_id: Any) -> None:
        self.table.cancel(uuid.UUID(str(job_id)))

    def requeue(self, job_id: Any) -> None:
        self.table.requeue(uuid.UUID(str(job_id)))

    def expire_lease(self, job_id: Any) -> None:
        self.table.rows[uuid.UUID(str(job_id))].lease_expires_at = self.table.clock() - 1


@pytest.fixture(scope="module")
def supabase_double(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.doubles.supabase.server import SupabaseDouble

    with SupabaseDouble(pg_dsn, tmp_path_factory.mktemp("supabase-storage")) as double:
        yield double


@pytest.fixture
def clean_jobs(pg_dsn: str) -> str:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("truncate processing_jobs")
    return pg_dsn


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def jobs(kind: str, request: pytest.FixtureRequest) -> Jobs:
    if kind == "memory":
        return MemoryJobs()
    return SqlJobs(request.getfixturevalue("clean_jobs"))


@pytest.fixture
async def queue(kind: str, jobs: Jobs, request: pytest.FixtureRequest) -> AsyncIterator[JobQueue]:
    if kind == "memory":
        assert isinstance(jobs, MemoryJobs)
        yield MemoryQueue(jobs.table)
        return
    if kind == "postgres":
        assert isinstance(jobs, SqlJobs)
        pg_queue = await PostgresQueue.open(jobs.dsn)
        yield pg_queue
        await pg_queue.aclose()
        return
    from daemon.adapters.supabase import RPC_TIMEOUT, SupabaseQueue, make_client

    double = request.getfixturevalue("supabase_double")
    sb_queue = SupabaseQueue(make_client(double.url, double.service_key, RPC_TIMEOUT))
    yield sb_queue
    await sb_queue.aclose()


@pytest.fixture
async def store(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ObjectStore]:
    if kind == "memory":
        yield MemoryStore()
        return
    if kind == "postgres":
        yield FilesystemStore(tmp_path / "storage")
        return
    from daemon.adapters.supabase import STORAGE_TIMEOUT, SupabaseStore, make_client

    double = request.getfixturevalue("supabase_double")
    sb_store = SupabaseStore(
        make_client(double.url, double.service_key, STORAGE_TIMEOUT), double.url
    )
    yield sb_store
    await sb_store.aclose()
