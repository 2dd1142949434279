"""SupabaseWakeups: Realtime postgres_changes on processing_jobs as hints, with a watchdog.

realtime-py fails quietly in several ways (see the project's Supabase notes): an exception in a
callback kills its read loop, a server close may go unnoticed, a channel closed by the server is
dropped without a word, and after its own retries it gives up inside a task nobody awaits. So:

- callbacks only put a hint on a memory stream and return (they cannot raise or block);
- "ready" means the server's system message for postgres_changes said ok, not SUBSCRIBED;
- a supervisor task watches the client (listen task alive, socket open, channel present, ready,
  something heard lately: an event, or a pong to its own WebSocket ping) and rebuilds it with
  backoff when any of that fails;
- every system ok (first subscribe, the client's own rejoin, a rebuild) yields "resubscribed", so
  the worker runs a catch-up claim for changes it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import websockets.exceptions
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from loguru import logger
from realtime import AsyncRealtimeChannel, AsyncRealtimeClient
from realtime.exceptions import AuthorizationError, NotConnectedError, RealtimeHTTPError

from daemon.domain.retry import Backoff, Retries
from daemon.ports import Hint, JobChange

TABLE = "processing_jobs"
SCHEMA = "public"
# (event, filter, hint) for each binding of the channel.
BINDINGS: tuple[tuple[str, str | None, str], ...] = (
    ("INSERT", None, "insert"),
    ("UPDATE", "status=eq.queued", "queued"),
    ("UPDATE", "status=eq.cancelled", "cancelled"),
)
# Hints are interchangeable: when the consumer is this far behind, dropping more loses nothing.
HINT_BUFFER = 64
# What realtime-py and websockets raise when the server or the path to it fails: an outage.
REALTIME_ERRORS = (
    OSError,
    TimeoutError,
    websockets.exceptions.WebSocketException,
    NotConnectedError,
    AuthorizationError,
    RealtimeHTTPError,
)


class _ToLoguru(logging.Handler):
    """realtime-py logs through the standard library; its errors ("Connection attempt failed")
    are about things the watchdog already handles and reports, so they go to loguru as DEBUG."""

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            logger.debug("realtime-py: {}", record.getMessage())


def _route_library_logs() -> None:
    library = logging.getLogger("realtime")
    if not any(isinstance(h, _ToLoguru) for h in library.handlers):
        library.addHandler(_ToLoguru())
        library.propagate = False


class SupabaseWakeups:
    """Wakeups from Supabase Realtime; `hints()` starts the supervisor on first use."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        channel: str = "processing-jobs",
        check_interval: float = 1.0,
        probe_interval: float = 10.0,
        probe_timeout: float = 5.0,
        stale_after: float = 30.0,
        ready_timeout: float = 15.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        heartbeat_interval: int = 25,
    ) -> None:
        self._url = url.rstrip("/") + "/realtime/v1"
        self._key = key
        self._channel_name = channel
        self._check_interval = check_interval
        self._probe_interval = probe_interval
        self._probe_timeout = probe_timeout
        self._stale_after = stale_after
        self._ready_timeout = ready_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._heartbeat_interval = heartbeat_interval
        _route_library_logs()

        send, receive = anyio.create_memory_object_stream[Hint](HINT_BUFFER)
        self._send: MemoryObjectSendStream[Hint] = send
        self._receive: MemoryObjectReceiveStream[Hint] = receive
        self._client: AsyncRealtimeClient | None = None
        self._channel: AsyncRealtimeChannel | None = None
        self._generation = 0
        self._ready = False
        self._ready_event = asyncio.Event()
        self._not_ready_since = time.monotonic()
        self._last_seen = time.monotonic()
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False
        #: How many times the subscription became ready (first time included).
        self.subscriptions = 0
        #: How many times the watchdog rebuilt the client, and why it did the last time.
        self.rebuilds = 0
        self.last_loss: str | None = None

    # -- the port -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the supervisor (idempotent); needs a running event loop."""
        if self._supervisor is None and not self._closed:
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(), name="supabase-wakeups"
            )

    def hints(self) -> AsyncIterator[Hint]:
        """Yield "insert", "queued", "cancelled" and "resubscribed" hints until closed; queued
        and cancelled ones name their job and its revision (Realtime sends the row).

        An iterator object rather than a generator: a consumer may cancel one wait (a timeout)
        and keep iterating, which would finish a generator for good.
        """
        return _Hints(self)

    async def healthy(self) -> bool:
        """Subscribed (system ok), connected, and heard from within `stale_after` seconds."""
        client = self._client
        return (
            self._ready
            and client is not None
            and client.is_connected
            and time.monotonic() - self._last_seen < self._stale_after
        )

    async def aclose(self) -> None:
        """Stop the supervisor and close the socket."""
        self._closed = True
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._teardown()
        self._send.close()

    # -- callbacks (run inside realtime-py's read loop: never raise, never block) ---------------

    def _offer(self, hint: Hint) -> None:
        with contextlib.suppress(
            anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError
        ):
            self._send.send_nowait(hint)

    def _on_change(self, generation: int, hint: str) -> Callable[[Any], None]:
        def callback(payload: Any) -> None:
            try:
                if generation != self._generation:
                    return
                self._last_seen = time.monotonic()
                # A new row cannot be a claim in flight: only updates name their job.
                self._offer(Hint(hint, row_changes(payload) if hint != "insert" else ()))
            except Exception:  # an exception here would kill the read loop
                pass

        return callback

    def _on_system(self, generation: int) -> Callable[[Any], None]:
        def callback(payload: Any) -> None:
            try:
                if generation != self._generation:
                    return
                self._last_seen = time.monotonic()
                if getattr(payload, "extension", None) == "postgres_changes" and (
                    getattr(payload, "status", None) == "ok"
                ):
                    self._ready = True
                    self._ready_event.set()
                    self.subscriptions += 1
                    self._offer(Hint("resubscribed"))
            except Exception:  # see _on_change
                pass

        return callback

    def _on_state(self, generation: int) -> Callable[[Any, Exception | None], None]:
        def callback(state: Any, _error: Exception | None) -> None:
            try:
                if generation != self._generation:
                    return
                # SUBSCRIBED alone is not readiness; anything else ends it until the next system ok.
                if str(getattr(state, "value", state)) != "SUBSCRIBED" and self._ready:
                    self._ready = False
                    self._ready_event.clear()
                    self._not_ready_since = time.monotonic()
            except Exception:  # see _on_change
                pass

        return callback

    # -- the supervisor -------------------------------------------------------------------------

    async def _supervise(self) -> None:
        # Rebuilds backoff_initial, twice that ... at most backoff_max apart, each 50-100 % of it.
        retries = Retries(Backoff(self._backoff_initial, self._backoff_max, jitter=0.5))
        while not self._closed:
            started = time.monotonic()
            try:
                await self._connect()
                reason = await self._watch()
            except REALTIME_ERRORS as exc:
                reason = f"{type(exc).__name__} while subscribing"
            except Exception as exc:  # a bug: said with its traceback; the poll goes on
                logger.opt(exception=exc).error("Realtime watchdog raised a bug; rebuilding")
                reason = f"a bug ({type(exc).__name__})"
            if self._closed:
                return
            await self._teardown()
            if time.monotonic() - started > 2 * self._stale_after:
                retries.reset()  # it was healthy for a good while: retry soon
            delay = retries.next_wait()
            self.rebuilds += 1
            self.last_loss = reason
            logger.warning(
                "Realtime subscription lost ({}); reconnecting in {:.1f} s", reason, delay
            )
            await asyncio.sleep(delay)

    async def _connect(self) -> None:
        self._generation += 1
        generation = self._generation
        self._ready = False
        self._ready_event.clear()
        self._not_ready_since = time.monotonic()
        client = AsyncRealtimeClient(
            self._url,
            token=self._key,
            auto_reconnect=True,
            hb_interval=self._heartbeat_interval,
            max_retries=3,
            initial_backoff=min(1.0, self._backoff_initial),
            timeout=max(1, round(self._ready_timeout)),
        )
        channel = client.channel(self._channel_name)
        for event, flt, hint in BINDINGS:
            channel.on_postgres_changes(
                event,  # type: ignore[arg-type]
                self._on_change(generation, hint),
                table=TABLE,
                schema=SCHEMA,
                filter=flt,
            )
        channel.on_system(self._on_system(generation))
        self._client, self._channel = client, channel
        async with asyncio.timeout(self._ready_timeout):
            await channel.subscribe(self._on_state(generation))
            await self._ready_event.wait()
        self._last_seen = time.monotonic()
        logger.info("Realtime subscribed to {}.{} changes", SCHEMA, TABLE)

    async def _watch(self) -> str:
        """Return why the client must be rebuilt; checks every `check_interval` seconds."""
        last_probe = time.monotonic()
        while not self._closed:
            await asyncio.sleep(self._check_interval)
            client, channel = self._client, self._channel
            if client is None or channel is None:
                return "no client"
            reason = self._broken(client, channel)
            if reason:
                return reason
            now = time.monotonic()
            if (
                now - self._last_seen >= self._probe_interval
                and now - last_probe >= self._probe_interval
            ):
                last_probe = now
                await self._probe(client)
            if time.monotonic() - self._last_seen > self._stale_after:
                return f"nothing heard for {self._stale_after:g} s"
        return "closed"

    def _broken(self, client: AsyncRealtimeClient, channel: AsyncRealtimeChannel) -> str | None:
        # realtime-py's private state is read on purpose: its public surface cannot tell a dead
        # listen task from a live one (the version is pinned; tests cover these paths).
        listen = getattr(client, "_listen_task", None)
        if listen is None or listen.done():
            return "the listen task ended"
        if client.channels.get(channel.topic) is not channel or channel.is_closed:
            return "the channel is gone"
        ws = getattr(client, "_ws_connection", None)
        if ws is not None and getattr(ws, "close_code", None) is not None:
            return f"the socket was closed ({ws.close_code})"
        if not self._ready and time.monotonic() - self._not_ready_since > self._ready_timeout:
            return "not subscribed"
        return None

    async def _probe(self, client: AsyncRealtimeClient) -> None:
        """A WebSocket ping: a pong proves the path to the server is alive."""
        ws = getattr(client, "_ws_connection", None)
        if ws is None:
            return
        try:
            pong = await ws.ping()
            async with asyncio.timeout(self._probe_timeout):
                await pong
        except Exception:  # no pong: the staleness check decides
            return
        self._last_seen = time.monotonic()

    async def _teardown(self) -> None:
        client, self._client, self._channel = self._client, None, None
        self._generation += 1  # late callbacks of the old client are ignored
        self._ready = False
        self._ready_event.clear()
        if client is not None:
            listen = getattr(client, "_listen_task", None)
            # A dead peer never answers the close handshake: do not wait long for it.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(min(2.0, self._probe_timeout)):
                    await client.close()
            # A listen task that died of its own error: fetch the error so asyncio does not log
            # "exception was never retrieved" for a failure already handled here.
            if listen is not None and listen.done() and not listen.cancelled():
                listen.exception()


def row_changes(payload: Any) -> tuple[JobChange, ...]:
    """The job a postgres_changes payload (`data.record`, the new row) is about, when it was
    cancelled or requeued."""
    record = payload.get("data", {}).get("record") if isinstance(payload, dict) else None
    change = JobChange.of_record(record)
    return (change,) if change is not None else ()


class _Hints:
    """The hint stream of one SupabaseWakeups; starts its supervisor on first use."""

    def __init__(self, owner: SupabaseWakeups) -> None:
        self._owner = owner

    def __aiter__(self) -> _Hints:
        return self

    async def __anext__(self) -> Hint:
        self._owner.start()
        try:
            return await self._owner._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None
