"""The one settings object: environment variables and `.env` (CONTRACT.md section 7).

A missing or malformed setting stops start-up with one sentence naming the variable
(`SettingsError`), never a pydantic dump.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from daemon.domain.errors import SettingsError

__all__ = ["API4AI_CARS_URL", "Settings", "SettingsError"]

API4AI_CARS_URL = "https://api4ai.cloud/img-bg-removal/v1/cars/results"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Backends: Supabase when both are set, else Postgres + a folder.
    supabase_url: str | None = None
    supabase_service_role_key: SecretStr | None = None
    # The public (anon) key, for the browser console only; the daemon never uses it.
    supabase_anon_key: str | None = None
    database_url: SecretStr | None = None
    storage_dir: Path = Path("./storage")
    # Public base URL of STORAGE_DIR when something serves it; file:// URLs otherwise.
    storage_public_url: str | None = None

    # Background removal.
    api4ai_api_key: SecretStr | None = None
    api4ai_url: str = API4AI_CARS_URL
    background_remover: Literal["api4ai", "none"] | None = None
    api4ai_concurrency: int = Field(4, ge=1, le=64)
    api4ai_timeout_seconds: float = Field(60.0, gt=0)
    api4ai_retry_budget_seconds: float = Field(90.0, ge=0)
    api4ai_max_upload_side: int = Field(4096, ge=256, le=16384)

    # Buckets.
    source_bucket: str = "vehicle-photos"
    output_bucket: str = "vehicle-photos-processed"
    cache_bucket: str = "processing-cache"
    # Backdrops and logos that options (and presets) name; private.
    assets_bucket: str = "processing-assets"

    # The worker.
    worker_concurrency: int = Field(
        default_factory=lambda: max(2, os.cpu_count() or 2), ge=1, le=64
    )
    lease_seconds: int = Field(60, ge=5, le=3600)
    poll_interval_seconds: float = Field(5.0, gt=0, le=300)
    # Hints (Realtime, LISTEN) make pick-up immediate; without them the poll alone finds work.
    wakeups_enabled: bool = True
    # Supabase Realtime watchdog: ping a quiet socket this often; rebuild it after this long with
    # no event and no pong (a dead NAT mapping or proxy leaves a socket open but silent).
    realtime_probe_seconds: float = Field(10.0, gt=0, le=300)
    realtime_stale_seconds: float = Field(30.0, gt=0, le=3600)
    shutdown_grace_seconds: float = Field(30.0, ge=0, le=3600)
    # Pixels (width x height) of images being processed at once, across all jobs.
    memory_budget_pixels: int = Field(200_000_000, ge=1_000_000)
    max_image_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(100_000_000, ge=10_000)
    pipeline_threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=64)

    # Health, metrics, hooks.
    health_host: str = "0.0.0.0"
    health_port: int = Field(8080, ge=0, le=65535)
    webhook_secret: SecretStr | None = None

    # Logs.
    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["auto", "text", "json"] = "auto"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "supabase_url",
        "supabase_anon_key",
        "database_url",
        "api4ai_api_key",
        "webhook_secret",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @cached_property
    def backend(self) -> Literal["supabase", "postgres"] | None:
        if self.supabase_url and self.supabase_service_role_key:
            return "supabase"
        if self.database_url:
            return "postgres"
        return None

    @property
    def remover(self) -> Literal["api4ai", "none"]:
        if self.background_remover is not None:
            return self.background_remover
        return "api4ai" if self.api4ai_api_key else "none"


def read_settings(**overrides: object) -> Settings:
    """Read the environment (and .env) without the daemon's checks of what goes together (the
    console needs no service key); raise SettingsError with one sentence on a bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = "_".join(str(p) for p in first["loc"]).upper() or "a setting"
        raise SettingsError(
            f"Setting {name} is invalid: {first['msg'].removeprefix('Value error, ')}."
        ) from None


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and .env); raise SettingsError with one sentence on a bad value."""
    settings = read_settings(**overrides)
    if settings.supabase_url and not settings.supabase_service_role_key:
        raise SettingsError("SUPABASE_SERVICE_ROLE_KEY must be set when SUPABASE_URL is set.")
    if settings.remover == "api4ai" and not settings.api4ai_api_key:
        raise SettingsError("API4AI_API_KEY must be set when BACKGROUND_REMOVER is api4ai.")
    return settings
