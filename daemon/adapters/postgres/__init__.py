"""The direct-Postgres backend: the contract's SQL functions over psycopg, LISTEN/NOTIFY hints."""

from __future__ import annotations

from daemon.adapters import Backend
from daemon.adapters.filesystem import FilesystemStore
from daemon.adapters.postgres.queue import PostgresQueue
from daemon.adapters.postgres.wakeups import PostgresWakeups
from daemon.app.settings import Settings

__all__ = ["PostgresQueue", "PostgresWakeups", "open_postgres_backend"]


async def open_postgres_backend(settings: Settings) -> Backend:
    """Postgres for the queue and the hints, a folder for storage; checks the connection once."""
    assert settings.database_url is not None
    dsn = settings.database_url.get_secret_value()
    queue = await PostgresQueue.open(dsn)
    return Backend(
        name="postgres",
        queue=queue,
        store=FilesystemStore(settings.storage_dir, public_base_url=settings.storage_public_url),
        wakeups=PostgresWakeups(dsn),
    )
