"""Settings for in-process tests: defaults and the overrides given, never a developer's .env."""

from __future__ import annotations

from typing import Any

from daemon.app.settings import Settings


def make_settings(**overrides: Any) -> Settings:
    """The daemon's one settings object, as `run` would load it with only these overrides."""
    base: dict[str, Any] = {
        "supabase_url": None,
        "supabase_service_role_key": None,
        "database_url": None,
        "api4ai_api_key": None,
    }
    return Settings(_env_file=None, **{**base, **overrides})  # type: ignore[call-arg]
