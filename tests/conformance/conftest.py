"""One suite, every backend: the JobQueue and ObjectStore ports against Postgres/filesystem and
Supabase (through the Supabase double on the same real Postgres), in the spirit of River's driver
conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from daemon.backends.filesystem import FilesystemStore
from daemon.backends.postgres.queue import PostgresQueue
from daemon.ports import JobQueue, ObjectStore

BACKENDS = ["postgres", "supabase"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
async def queue(request: pytest.FixtureRequest, clean_jobs: str) -> AsyncIterator[JobQueue]:
    if request.param == "postgres":
        pg_queue = await PostgresQueue.open(clean_jobs)
        yield pg_queue
        await pg_queue.aclose()
        return
    from daemon.backends.supabase import RPC_TIMEOUT, SupabaseQueue, make_client

    double = request.getfixturevalue("supabase_double")
    sb_queue = SupabaseQueue(make_client(double.url, double.service_key, RPC_TIMEOUT))
    yield sb_queue
    await sb_queue.aclose()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "postgres":
        yield FilesystemStore(tmp_path / "storage")
        return
    from daemon.backends.supabase import STORAGE_TIMEOUT, SupabaseStore, make_client

    double = request.getfixturevalue("supabase_double")
    sb_store = SupabaseStore(
        make_client(double.url, double.service_key, STORAGE_TIMEOUT), double.url
    )
    yield sb_store
    await sb_store.aclose()
