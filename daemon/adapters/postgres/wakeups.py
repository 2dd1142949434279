"""PostgresWakeups: LISTEN processing_jobs on a connection of its own, with a health check.

A LISTEN connection can die silently (a restart, a proxy timeout): every `check_interval` seconds
without a notification it runs `select 1`; on any failure it reconnects with backoff, listens
again, and yields "resubscribed" so the worker runs a catch-up claim for what it may have missed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import anyio
import psycopg
from loguru import logger

from daemon.domain.errors import first_line
from daemon.domain.retry import Backoff, Retries
from daemon.ports import Hint, JobChange

CHANNEL = "processing_jobs"


class PostgresWakeups:
    """Wakeups from Postgres NOTIFY."""

    def __init__(
        self,
        dsn: str,
        *,
        check_interval: float = 10.0,
        max_backoff: float = 30.0,
    ) -> None:
        self._dsn = dsn
        self._check_interval = check_interval
        # Reconnects 0.5 s, 1 s, 2 s ... apart, at most `max_backoff`, each 50-100 % of that
        # (jitter: daemons that lost the same server do not all come back at once).
        self._backoff = Backoff(initial=0.5, maximum=max_backoff, jitter=0.5)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._listening = False
        self._closed = False

    async def hints(self) -> AsyncIterator[Hint]:
        retries = Retries(self._backoff)
        first = True
        while not self._closed:
            try:
                await self._connect()
                retries.reset()
                if not first:
                    logger.info("LISTEN {} restored", CHANNEL)
                    yield Hint("resubscribed")
                first = False
                async for reason in self._listen():
                    yield reason
            except (psycopg.Error, OSError) as exc:
                if self._closed:
                    return
                self._listening = False
                delay = retries.next_wait()
                logger.warning(
                    "LISTEN connection lost ({}); retrying in {:.1f} s",
                    first_line(exc),
                    delay,
                )
                await self._drop()
                await anyio.sleep(delay)
                first = False

    async def _connect(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(
            self._dsn,
            autocommit=True,
            connect_timeout=5,
            application_name="vehicle-photo-daemon-listen",
        )
        await self._conn.execute(f"LISTEN {CHANNEL}")
        self._listening = True

    async def _listen(self) -> AsyncIterator[Hint]:
        conn = self._conn
        assert conn is not None
        while not self._closed:
            received = False
            async for notify in conn.notifies(timeout=self._check_interval):
                received = True
                yield parse_notify(notify.payload)
            if not received:
                # Silence: prove the connection is still alive before trusting it.
                with anyio.fail_after(5):
                    await conn.execute("select 1")

    async def healthy(self) -> bool:
        return self._listening and self._conn is not None and not self._conn.closed

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def aclose(self) -> None:
        self._closed = True
        self._listening = False
        await self._drop()


def parse_notify(payload: str) -> Hint:
    """The trigger's payload (`status`, and `cancelled_ids` for small cancels) as a Hint.

    NOTIFY names only cancelled jobs, without their revision: each is checked by its claim's
    heartbeat at once. Rows that became queued by an update (a requeue, a retry, a release) are
    not named, so every claim in flight checks. A payload that is not the trigger's is still a
    hint that work may wait.
    """
    try:
        document = json.loads(payload)
        status = document.get("status")
        ids = document.get("cancelled_ids") or []
        changes = tuple(JobChange(UUID(str(i)), "cancelled") for i in ids)
        requeued = document.get("op") == "update" and int(document.get("queued") or 0) > 0
    except (ValueError, AttributeError, TypeError):
        return Hint("notify")
    return Hint(str(status) if status else "notify", changes, unnamed_requeues=requeued)
