"""A database password changed while the daemon runs is a refused credential, not an outage.

Connections already open keep working (PostgreSQL checks the password at login only); the next
login fails, and the pool would only ever say that it timed out. The queue says why instead, so
the worker stops claiming and /health names the cause, and it works again once the password does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import anyio
import psycopg
import pytest

from daemon.adapters.postgres.queue import PostgresQueue
from daemon.domain.errors import CredentialsRefused
from daemon.localdb.cluster import LocalPostgres

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def password_role(pg_cluster: LocalPostgres, pg_dsn: str) -> Iterator[tuple[str, str]]:
    """A login role that must give its password (the test cluster trusts everyone else)."""
    role = f"daemon_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"create role {role} login superuser password 'first'")
        hba = Path(str(conn.execute("show hba_file").fetchone()[0]))  # type: ignore[index]
        original = hba.read_text()
        hba.write_text(
            f"local all {role} scram-sha-256\nhost all {role} 127.0.0.1/32 scram-sha-256\n"
            + original
        )
        conn.execute("select pg_reload_conf()")
    parts = urlsplit(pg_dsn)
    netloc = f"{role}:first@{parts.hostname}:{parts.port}"
    try:
        yield role, urlunsplit(parts._replace(netloc=netloc))
    finally:
        hba.write_text(original)
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("select pg_reload_conf()")
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s",
                (role,),
            )
            conn.execute(f"drop role if exists {role}")


def _admin(pg_dsn: str, sql: str, *params: object) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql, params or None)


async def test_a_password_changed_while_running_is_refused_then_recovers(
    pg_dsn: str, password_role: tuple[str, str]
) -> None:
    role, dsn = password_role
    queue = await PostgresQueue.open(dsn, max_size=2)
    try:
        assert await queue.claim("worker-a", 1, 30) == []
        _admin(pg_dsn, f"alter role {role} password 'second'")
        # Open connections keep working: nothing to report yet.
        assert await queue.claim("worker-a", 1, 30) == []
        _admin(
            pg_dsn,
            "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s",
            role,
        )
        with pytest.raises(CredentialsRefused, match="password authentication failed"):
            await queue.claim("worker-a", 1, 30)
        # The password works again: so does the queue, within a few reconnect attempts.
        _admin(pg_dsn, f"alter role {role} password 'first'")
        with anyio.fail_after(15):
            while True:
                try:
                    assert await queue.claim("worker-a", 1, 30) == []
                    break
                except CredentialsRefused:
                    await anyio.sleep(0.2)
    finally:
        await queue.aclose()


def test_a_refused_login_is_told_from_an_unreachable_server() -> None:
    from daemon.adapters.postgres.pool import auth_refused

    refused = psycopg.OperationalError(
        'connection failed: FATAL:  password authentication failed for user "app"'
    )
    unreachable = psycopg.OperationalError(
        'connection failed: connection to server at "10.0.0.9", port 5432 failed: timeout expired'
    )
    assert auth_refused(refused)
    assert not auth_refused(unreachable)
