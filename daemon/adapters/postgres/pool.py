"""The psycopg pool of the direct-Postgres backend, and how it comes back after a restart.

A restart (or a network cut) kills every connection in the pool at once, and two habits of
psycopg_pool then kept a daemon without a connection for 8 to 11 s:

- a caller that finds a dead connection tries the next one after a doubling pause (0, 1, 2, 4 s),
  so four dead idle connections cost it 7 s even when fresh ones are ready meanwhile: here the
  first dead connection found makes the pool test all its idle ones at once (`check()`), and the
  caller then simply waits for the next fresh connection;
- the pool retries a lost connection until `reconnect_timeout`, then drops it from its count and
  tries nothing more until a new caller asks; a caller already waiting keeps waiting for its whole
  timeout. `reconnect_timeout=0` is not "never give up": the first failed attempt sets the
  deadline to now, so the pool tries twice at once and gives up, which during a restart is always.
  Here the pool gives up after a short window and is asked at once for a fresh attempt, so it
  tries about once a second for as long as the database is away.

The pool only ever tells a caller that it timed out. Its connections therefore record why
connecting failed: a server that refuses the daemon's password (changed or revoked while it runs;
connections already open keep working until the next restart) is not an outage to wait out, and
the queue says so (`refusal`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from daemon.domain.errors import first_line

__all__ = ["RECONNECT_WINDOW_SECONDS", "auth_refused", "new_pool", "refusal"]

# SQLSTATEs of a refused login (invalid_password, invalid_authorization_specification). libpq
# gives a failed connection no SQLSTATE, so the server's message is read too.
AUTH_SQLSTATES = frozenset({"28P01", "28000"})
AUTH_MESSAGES = ("password authentication failed", "no pg_hba.conf entry")

# How long the pool keeps trying one lost connection (attempts 1 s apart) before it gives up and
# is asked for a fresh attempt.
RECONNECT_WINDOW_SECONDS = 2.0


class _Recovery:
    """The pool's `check` and `reconnect_failed` callbacks, which need the pool itself."""

    def __init__(self) -> None:
        self.pool: AsyncConnectionPool[Any] | None = None
        self.refused: str | None = None  # why the last connection attempt was refused, if it was

    def connected(self, error: psycopg.OperationalError | None) -> None:
        """The outcome of one connection attempt (a success clears an earlier refusal)."""
        self.refused = first_line(error) if error is not None and auth_refused(error) else None

    async def check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Check a connection before lending it; if it is dead, test every idle one now."""
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            if self.pool is not None and not self.pool.closed:
                # Replaces the dead ones with new attempts and takes them out of the pool, so the
                # caller's next try waits for a fresh connection instead of pausing on old ones.
                await self.pool.check()
            raise

    async def reconnect_failed(self, pool: AsyncConnectionPool[Any]) -> None:
        """The pool gave up reconnecting: start a new attempt at once.

        `check()` grows the pool by one only when it is short and not already growing, so no
        attempts pile up.
        """
        if not pool.closed:
            await pool.check()


class _WatchedConnection(psycopg.AsyncConnection[Any]):
    """A connection that tells its pool's `_Recovery` how each attempt to connect ended."""

    recovery: ClassVar[_Recovery]

    @classmethod
    async def connect(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            conn = await super().connect(*args, **kwargs)
        except psycopg.OperationalError as exc:
            cls.recovery.connected(exc)
            raise
        cls.recovery.connected(None)
        return conn


def auth_refused(error: psycopg.Error) -> bool:
    """Whether the server refused the daemon's credentials (not: it was unreachable)."""
    if error.sqlstate in AUTH_SQLSTATES:
        return True
    text = str(error).lower()
    return any(message in text for message in AUTH_MESSAGES)


def refusal(pool: AsyncConnectionPool[Any]) -> str | None:
    """Why the pool's last attempt to connect was refused, when the server refused it."""
    connection_class = pool.connection_class
    if isinstance(connection_class, type) and issubclass(connection_class, _WatchedConnection):
        return connection_class.recovery.refused
    return None


def new_pool(dsn: str, *, max_size: int, kwargs: dict[str, Any]) -> AsyncConnectionPool[Any]:
    """An unopened pool of 1..max_size connections that comes back quickly after a restart."""
    recovery = _Recovery()
    # One class per pool, so that each pool's connections report to its own recovery.
    watched = type("WatchedConnection", (_WatchedConnection,), {"recovery": recovery})
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        dsn,
        connection_class=watched,
        min_size=1,
        max_size=max_size,
        kwargs=kwargs,
        # A Postgres restart leaves dead connections in the pool: check before lending.
        check=recovery.check,
        reconnect_timeout=RECONNECT_WINDOW_SECONDS,
        reconnect_failed=recovery.reconnect_failed,
        open=False,
    )
    recovery.pool = pool
    return pool
