"""build_remover picks the remover the settings name, configured from them."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.adapters.api4ai import Api4aiRemover
from daemon.adapters.factory import build_remover
from daemon.app.settings import Settings, SettingsError
from daemon.pipeline.removal import NoRemover

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API4AI_API_KEY", "BACKGROUND_REMOVER", "API4AI_URL", "API4AI_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_no_key_means_no_remover() -> None:
    assert isinstance(build_remover(settings()), NoRemover)


def test_none_wins_over_a_key() -> None:
    chosen = build_remover(settings(api4ai_api_key="k", background_remover="none"))
    assert isinstance(chosen, NoRemover)


async def test_a_key_means_api4ai_configured_from_the_settings() -> None:
    chosen = build_remover(
        settings(
            api4ai_api_key="secret-key",
            api4ai_url="http://127.0.0.1:9/img-bg-removal/v1/cars/results",
            api4ai_concurrency=3,
            api4ai_timeout_seconds=12,
            api4ai_retry_budget_seconds=34,
            api4ai_max_upload_side=2048,
        )
    )
    assert isinstance(chosen, Api4aiRemover)
    assert chosen.provider == "api4ai"
    assert chosen._url == "http://127.0.0.1:9/img-bg-removal/v1/cars/results"
    assert chosen._limiter.total_tokens == 3
    assert (chosen._timeout, chosen._budget) == (12, 34)
    assert chosen._max_upload_side == 2048
    assert "secret-key" not in repr(chosen)
    await chosen.aclose()


def test_api4ai_without_a_key_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="API4AI_API_KEY"):
        Api4aiRemover.from_settings(settings(background_remover="api4ai"))
