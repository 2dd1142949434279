"""open_supabase_backend: one cheap call proves URL, key and migrations at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio
import pytest
from pydantic import SecretStr

from daemon.adapters.supabase import SupabaseAuthError, open_supabase_backend
from daemon.app.settings import Settings, SettingsError
from tests.doubles.supabase import SupabaseDouble

pytestmark = pytest.mark.anyio


def settings_for(url: str, key: str, **more: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        supabase_url=url, supabase_service_role_key=SecretStr(key), _env_file=None, **more
    )


async def test_opens_all_three_adapters(sb: SupabaseDouble) -> None:
    backend = await open_supabase_backend(settings_for(sb.url, sb.service_key))
    try:
        assert backend.name == "supabase"
        await backend.queue.ping()
        await backend.store.put("vehicle-photos", "lot/x.jpg", b"x", content_type="image/jpeg")
        assert await backend.store.get("vehicle-photos", "lot/x.jpg") == b"x"
        with anyio.fail_after(5):
            assert (await anext(backend.wakeups.hints())).reason == "resubscribed"
        assert await backend.wakeups.healthy()
    finally:
        await backend.aclose()
    assert not await backend.wakeups.healthy()


async def test_realtime_watchdog_follows_the_settings(sb: SupabaseDouble) -> None:
    settings = settings_for(
        sb.url, sb.service_key, realtime_probe_seconds=0.2, realtime_stale_seconds=0.8
    )
    backend = await open_supabase_backend(settings)
    try:
        hints = backend.wakeups.hints()
        with anyio.fail_after(5):
            assert (await anext(hints)).reason == "resubscribed"
        sb.stall_realtime()
        with anyio.fail_after(6):  # silence noticed after 0.8 s, then a rebuild with backoff
            assert (await anext(hints)).reason == "resubscribed"
    finally:
        await backend.aclose()


async def test_wrong_key_is_a_one_sentence_start_up_error(sb: SupabaseDouble) -> None:
    with pytest.raises(SupabaseAuthError) as caught:
        await open_supabase_backend(settings_for(sb.url, sb.wrong_service_key))
    message = str(caught.value)
    assert "SUPABASE_SERVICE_ROLE_KEY" in message
    assert message.count(". ") == 0 and message.endswith(".")
    assert sb.wrong_service_key not in message
    assert isinstance(caught.value, SettingsError)


async def test_anon_key_in_place_of_the_service_key(sb: SupabaseDouble) -> None:
    with pytest.raises(SupabaseAuthError):
        await open_supabase_backend(settings_for(sb.url, sb.anon_key))


async def test_url_without_a_server(sb: SupabaseDouble) -> None:
    with pytest.raises(SettingsError, match="SUPABASE_URL"):
        await open_supabase_backend(settings_for("http://127.0.0.1:9", sb.service_key))


async def test_malformed_url() -> None:
    with pytest.raises(SettingsError, match="malformed"):
        await open_supabase_backend(settings_for("localhost:54321", "key"))


def test_run_exits_1_with_one_line_for_a_wrong_key(sb: SupabaseDouble, tmp_path: object) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "DATABASE_"))},
        "SUPABASE_URL": sb.url,
        "SUPABASE_SERVICE_ROLE_KEY": sb.wrong_service_key,
        "HEALTH_PORT": "0",
        "LOG_FORMAT": "text",
    }
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
    )
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Supabase refused the service role key")
    assert "Traceback" not in done.stderr
    assert sb.wrong_service_key not in done.stderr
