"""The Supabase backend: PostgREST RPC for the queue, Storage for objects, Realtime for hints.

One supabase-py client per concern, each on its own httpx client with explicit timeouts: RPCs are
small and must fail fast, Storage moves images and may take longer.
"""

from __future__ import annotations

import httpx
from supabase import AsyncClient, AsyncClientOptions

from daemon.adapters import Backend, PollOnly
from daemon.adapters.supabase.errors import SupabaseAuthError, SupabaseQueueError
from daemon.adapters.supabase.queue import SupabaseQueue
from daemon.adapters.supabase.store import SupabaseStore
from daemon.adapters.supabase.wakeups import SupabaseWakeups
from daemon.app.settings import Settings, SettingsError
from daemon.ports import QueueUnavailable

__all__ = [
    "SupabaseAuthError",
    "SupabaseQueue",
    "SupabaseQueueError",
    "SupabaseStore",
    "SupabaseWakeups",
    "make_client",
    "open_supabase_backend",
]

RPC_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
STORAGE_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


def make_client(url: str, key: str, timeout: httpx.Timeout) -> AsyncClient:
    """A supabase-py client whose HTTP calls use `timeout` (passed as its own httpx client, which
    also avoids the clients' deprecated timeout arguments)."""
    http = httpx.AsyncClient(timeout=timeout, follow_redirects=True, http2=url.startswith("https"))
    try:
        return AsyncClient(url, key, AsyncClientOptions(httpx_client=http))
    except Exception as exc:  # supabase-py's SupabaseException for a malformed URL or key
        detail = getattr(exc, "message", None) or type(exc).__name__
        raise SettingsError(
            f"SUPABASE_URL or SUPABASE_SERVICE_ROLE_KEY is malformed: {detail}."
        ) from None


async def open_supabase_backend(settings: Settings, *, wakeups: bool = True) -> Backend:
    """Build the adapters and prove the URL, the key and the migrations with one cheap RPC;
    without `wakeups`, no Realtime subscription is opened (the backend polls).

    Raises SupabaseAuthError for a refused key, and SettingsError when the URL does not lead to a
    Supabase project or the contract's functions are missing.
    """
    if not settings.supabase_url or settings.supabase_service_role_key is None:
        raise SettingsError("SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY must both be set.")
    url = settings.supabase_url.rstrip("/")
    key = settings.supabase_service_role_key.get_secret_value()
    queue = SupabaseQueue(make_client(url, key, RPC_TIMEOUT))
    try:
        await queue.ping()
    except SupabaseAuthError:
        await queue.aclose()
        raise
    except (QueueUnavailable, SupabaseQueueError) as exc:
        await queue.aclose()
        raise SettingsError(
            f"SUPABASE_URL does not lead to a working Supabase project: {exc}"
        ) from None
    store = SupabaseStore(make_client(url, key, STORAGE_TIMEOUT), url)
    if not wakeups:
        return Backend(name="supabase", queue=queue, store=store, wakeups=PollOnly())
    probe = settings.realtime_probe_seconds
    realtime = SupabaseWakeups(
        url,
        key,
        probe_interval=probe,
        probe_timeout=min(5.0, probe),
        stale_after=max(settings.realtime_stale_seconds, 2 * probe),
    )
    realtime.start()
    return Backend(name="supabase", queue=queue, store=store, wakeups=realtime)
