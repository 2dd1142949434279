"""SupabaseWakeups against the double's Realtime: hints, readiness, and the watchdog's recovery
from a normal close, an error close, a silent socket, a dropped channel and a refused upgrade."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import anyio
import psycopg
import pytest

from daemon.adapters.supabase import SupabaseQueue, SupabaseWakeups
from daemon.ports import Hint, JobChange
from tests.doubles.supabase import SupabaseDouble
from tests.integration.supabase.conftest import Admin

pytestmark = [
    pytest.mark.anyio,
    # realtime-py reads websockets' deprecated ConnectionClosed.code/.reason on error closes.
    pytest.mark.filterwarnings("ignore:ConnectionClosed.*:DeprecationWarning"),
]

FAST = {
    "check_interval": 0.05,
    "probe_interval": 0.2,
    "probe_timeout": 0.3,
    "stale_after": 1.0,
    "ready_timeout": 2.0,
    "backoff_initial": 0.05,
    "backoff_max": 0.3,
}


@pytest.fixture
async def wakeups(sb: SupabaseDouble) -> AsyncIterator[SupabaseWakeups]:
    w = SupabaseWakeups(sb.url, sb.service_key, **FAST)  # type: ignore[arg-type]
    yield w
    await w.aclose()


async def next_full_hint(hints: AsyncIterator[Hint], timeout: float = 5.0) -> Hint:
    with anyio.fail_after(timeout):
        return await anext(hints)


async def next_hint(hints: AsyncIterator[Hint], timeout: float = 5.0) -> str:
    """The reason of the next hint."""
    return (await next_full_hint(hints, timeout)).reason


async def hints_until(hints: AsyncIterator[Hint], wanted: str, timeout: float = 8.0) -> list[str]:
    """The reason of every hint up to and including the first `wanted` one."""
    seen: list[str] = []
    with anyio.fail_after(timeout):
        while not seen or seen[-1] != wanted:
            seen.append((await anext(hints)).reason)
    return seen


async def test_hints_for_insert_requeue_and_cancel(
    wakeups: SupabaseWakeups, admin: Admin, queue: SupabaseQueue
) -> None:
    hints = wakeups.hints()
    assert await next_hint(hints) == "resubscribed"  # the catch-up after the first subscribe
    assert await wakeups.healthy()

    job = await admin.insert()
    assert await next_full_hint(hints) == Hint("insert")
    await admin.update(job["id"], status="cancelled")
    # Cancels and requeues name the job and its revision, so a worker can stop that claim.
    job_id = uuid.UUID(job["id"])
    assert await next_full_hint(hints) == Hint("cancelled", (JobChange(job_id, "cancelled", 0),))
    await admin.update(job["id"], status="queued")
    assert await next_full_hint(hints) == Hint("queued", (JobChange(job_id, "queued", 1),))
    # Realtime filters on the new row: any change to a queued row is a "queued" hint.
    await admin.update(job["id"], priority=3)
    assert await next_hint(hints) == "queued"
    # Changes the daemon makes (claim, heartbeat) leave the row processing: no hint.
    [claimed] = await queue.claim("worker-1", 1, 30)
    await queue.heartbeat(claimed.id, claimed.lease_token, 30, stage="cropping", progress=50)
    await admin.update(job["id"], status="cancelled")
    assert await next_hint(hints) == "cancelled"


async def test_ready_only_after_the_system_message(sb: SupabaseDouble, pg_dsn: str) -> None:
    # Without the table in the publication the server joins the channel (SUBSCRIBED) but its
    # system message says error: no readiness, no hint, and the watchdog keeps trying.
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("alter publication supabase_realtime drop table public.processing_jobs")
        wakeups = SupabaseWakeups(sb.url, sb.service_key, **{**FAST, "ready_timeout": 0.5})  # type: ignore[arg-type]
        try:
            hints = wakeups.hints()
            with anyio.move_on_after(1.5):
                hint = await anext(hints)
                pytest.fail(f"a hint ({hint}) while not subscribed")
            assert not await wakeups.healthy()
            assert wakeups.rebuilds >= 1
            assert wakeups.subscriptions == 0
        finally:
            conn.execute("alter publication supabase_realtime add table public.processing_jobs")
        try:
            assert await next_hint(hints, 8) == "resubscribed"
            assert await wakeups.healthy()
        finally:
            await wakeups.aclose()


@pytest.mark.parametrize("code", [1000, 1011])
async def test_reconnects_after_server_close(
    code: int, wakeups: SupabaseWakeups, sb: SupabaseDouble, admin: Admin
) -> None:
    hints = wakeups.hints()
    assert await next_hint(hints) == "resubscribed"
    connects = sb.realtime_connects

    sb.close_realtime(code)
    await hints_until(hints, "resubscribed")
    assert sb.realtime_connects > connects

    await admin.insert()
    assert "insert" in await hints_until(hints, "insert")
    assert await wakeups.healthy()


async def test_rebuilds_after_a_silent_socket(
    wakeups: SupabaseWakeups, sb: SupabaseDouble, admin: Admin
) -> None:
    hints = wakeups.hints()
    assert await next_hint(hints) == "resubscribed"

    sb.stall_realtime()
    await hints_until(hints, "resubscribed")
    assert wakeups.last_loss is not None and wakeups.last_loss.startswith("nothing heard")
    assert await wakeups.healthy()

    await admin.insert()
    assert "insert" in await hints_until(hints, "insert")


async def test_rebuilds_when_the_server_drops_the_channel(
    wakeups: SupabaseWakeups, sb: SupabaseDouble, admin: Admin
) -> None:
    hints = wakeups.hints()
    assert await next_hint(hints) == "resubscribed"

    sb.close_channels()
    await hints_until(hints, "resubscribed")
    assert wakeups.last_loss == "the channel is gone"

    await admin.insert()
    assert "insert" in await hints_until(hints, "insert")


async def test_keeps_trying_while_the_upgrade_is_refused(
    wakeups: SupabaseWakeups, sb: SupabaseDouble
) -> None:
    hints = wakeups.hints()
    assert await next_hint(hints) == "resubscribed"

    sb.reject_realtime(True)
    sb.close_realtime(1011)
    await anyio.sleep(1.5)
    assert not await wakeups.healthy()
    rebuilds = wakeups.rebuilds
    assert rebuilds >= 1

    sb.reject_realtime(False)
    await hints_until(hints, "resubscribed")
    assert await wakeups.healthy()


async def test_a_wrong_key_never_subscribes(sb: SupabaseDouble) -> None:
    wakeups = SupabaseWakeups(sb.url, sb.wrong_service_key, **FAST)  # type: ignore[arg-type]
    try:
        hints = wakeups.hints()
        with anyio.move_on_after(1.0):
            await anext(hints)
            pytest.fail("a hint with a wrong key")
        assert not await wakeups.healthy()
        assert sb.realtime_sockets == 0
    finally:
        await wakeups.aclose()


async def test_aclose_ends_the_hints(wakeups: SupabaseWakeups) -> None:
    hints = wakeups.hints()
    assert await next_hint(hints) == "resubscribed"
    await wakeups.aclose()
    with pytest.raises(StopAsyncIteration):
        await next_hint(hints)
    assert not await wakeups.healthy()


async def test_rebuilds_when_the_listen_task_dies(wakeups: SupabaseWakeups, admin: Admin) -> None:
    # What an exception in a realtime-py callback does: the read loop ends, the socket stays.
    hints = wakeups.hints()
    assert await next_hint(hints) == "resubscribed"
    client = wakeups._client
    assert client is not None and client._listen_task is not None
    client._listen_task.cancel()

    await hints_until(hints, "resubscribed")
    assert wakeups.rebuilds >= 1
    assert wakeups.last_loss == "the listen task ended"
    assert wakeups._client is not client
    await admin.insert()
    assert "insert" in await hints_until(hints, "insert")


async def test_a_socket_closed_without_the_client_noticing_is_rebuilt(
    wakeups: SupabaseWakeups, admin: Admin
) -> None:
    # realtime-py before 2.34 kept a socket closed with 1000 as "connected": stand in for that by
    # closing the socket under the client while its read loop is made to ignore the end.
    hints = wakeups.hints()
    assert await next_hint(hints) == "resubscribed"
    client = wakeups._client
    assert client is not None and client._listen_task is not None and client._ws_connection
    client.auto_reconnect = False  # no reconnect of its own
    listen = client._listen_task
    client._listen_task = None
    listen.cancel()
    keep_alive = asyncio.get_running_loop().create_future()
    client._listen_task = asyncio.ensure_future(keep_alive)  # a "live" loop that reads nothing
    await client._ws_connection.close(1000)

    try:
        await hints_until(hints, "resubscribed")
    finally:
        keep_alive.cancel()
    assert wakeups.last_loss == "the socket was closed (1000)"
    assert wakeups._client is not client
    await admin.insert()
    assert "insert" in await hints_until(hints, "insert")


async def test_healthy_needs_a_recent_sign_of_life(wakeups: SupabaseWakeups) -> None:
    hints = wakeups.hints()
    assert await next_hint(hints) == "resubscribed"
    assert await wakeups.healthy()
    wakeups._last_seen -= FAST["stale_after"] + 1  # as if nothing had been heard for a while
    assert not await wakeups.healthy()
