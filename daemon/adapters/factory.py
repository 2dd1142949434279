"""The one place that turns the settings into adapters, for every command.

`run` and `demo` take the whole backend; `enqueue` only the store and the queue (`wakeups=False`
opens no Realtime subscription and no LISTEN connection); `status` only the admin side.
"""

from __future__ import annotations

from daemon.adapters import Backend, PollOnly
from daemon.app.settings import Settings
from daemon.domain.errors import QueueUnavailable, SettingsError
from daemon.pipeline.removal import BackgroundRemover, NoRemover
from daemon.ports import JobAdmin

NOTHING_CONFIGURED = (
    "Set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (Supabase) or DATABASE_URL (Postgres)."
)


async def open_backend(settings: Settings, *, wakeups: bool = True) -> Backend:
    """The backend the settings ask for; a one-sentence SettingsError when none or unreachable.

    Without `wakeups` (or with WAKEUPS_ENABLED=false) the backend has no hint source and the
    worker relies on its poll.
    """
    listen = wakeups and settings.wakeups_enabled
    if settings.backend == "supabase":
        from daemon.adapters.supabase import open_supabase_backend

        return await open_supabase_backend(settings, wakeups=listen)
    if settings.backend == "postgres":
        from daemon.adapters.postgres import open_postgres_backend

        try:
            backend = await open_postgres_backend(settings)
        except QueueUnavailable as exc:
            raise SettingsError(f"DATABASE_URL does not lead to a database: {exc}") from None
        if not listen:
            await backend.wakeups.aclose()
            backend.wakeups = PollOnly()
        return backend
    raise SettingsError(NOTHING_CONFIGURED)


def open_admin(settings: Settings) -> JobAdmin:
    """The admin side of the backend the settings choose (as `run` chooses the daemon's)."""
    from daemon.adapters.admin import admin_for

    return admin_for(settings)


def build_remover(settings: Settings) -> BackgroundRemover:
    """The remover BACKGROUND_REMOVER (or its default) names: API4.ai, or `none`."""
    if settings.remover == "api4ai":
        # Imported here so that `none` deployments never build an HTTP client.
        from daemon.adapters.api4ai import Api4aiRemover

        return Api4aiRemover.from_settings(settings)
    return NoRemover()
