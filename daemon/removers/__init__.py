"""Background removers: the adapters behind daemon.pipeline.removal.BackgroundRemover."""

from __future__ import annotations

from typing import TYPE_CHECKING

from daemon.pipeline.removal import BackgroundRemover, NoRemover

if TYPE_CHECKING:
    from daemon.settings import Settings

__all__ = ["build_remover"]


def build_remover(settings: Settings) -> BackgroundRemover:
    """The remover BACKGROUND_REMOVER (or its default) names: API4.ai, or `none`."""
    if settings.remover == "api4ai":
        # Imported here so that `none` deployments never build an HTTP client.
        from daemon.removers.api4ai import Api4aiRemover

        return Api4aiRemover.from_settings(settings)
    return NoRemover()
