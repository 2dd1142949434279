"""A key revoked while the daemon runs: not an outage. /health says why with 503, the log says
it once a minute, claiming stops, and it resumes by itself once the key works again."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import anyio
import pytest
from loguru import logger
from pydantic import SecretStr

from daemon.adapters.supabase import open_supabase_backend
from daemon.app.http_port import HealthServer
from daemon.app.settings import Settings
from daemon.lifecycle.slots import PipelineSlots
from daemon.lifecycle.worker import Worker
from daemon.pipeline.removal import NoRemover
from tests.acceptance.daemon.harness import studio_jpeg
from tests.doubles.supabase import SupabaseDouble
from tests.integration.supabase.conftest import Admin
from tests.settings import make_settings

pytestmark = pytest.mark.anyio

SOURCE = "vehicle-photos"
POLL = 0.2  # the key is probed once per poll while refused


async def get_health(port: int) -> tuple[int, dict[str, Any]]:
    def call() -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    return await anyio.to_thread.run_sync(call)


async def eventually(check: Any, timeout: float = 10.0) -> Any:
    with anyio.fail_after(timeout):
        while not (found := await check()):  # noqa: ASYNC110 - polling from outside
            await anyio.sleep(0.05)
    return found


async def test_a_revoked_key_pauses_claiming_and_health_says_why(
    sb: SupabaseDouble, admin: Admin
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        supabase_url=sb.url,
        supabase_service_role_key=SecretStr(sb.service_key),
        _env_file=None,
        realtime_probe_seconds=0.5,
    )
    lines: list[str] = []
    sink = logger.add(lines.append, level="INFO", format="{level} {message}")
    backend = await open_supabase_backend(settings)
    await backend.store.put(
        "vehicle-photos", "lot/car.jpg", studio_jpeg(), content_type="image/jpeg"
    )
    worker = Worker(backend, NoRemover(), make_settings(poll_interval_seconds=POLL), "worker-key")
    server = HealthServer(worker, host="127.0.0.1", port=0)
    port = await server.start()
    stop = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run, stop)
            assert (await get_health(port))[0] == 200

            sb.revoke_key(sb.service_key)

            async def unhealthy() -> dict[str, Any] | None:
                status, body = await get_health(port)
                return body if status == 503 else None

            body = await eventually(unhealthy)
            assert "key was refused" in body["reason"]
            assert "SUPABASE_SERVICE_ROLE_KEY" in body["reason"]
            assert sb.service_key not in json.dumps(body)

            # While refused: a job waits, no claim is sent, the key is probed once per poll,
            # and the log says it once.
            job = await admin.insert()
            claims = sb.rpc_calls.get("claim_processing_jobs", 0)
            probes = sb.rpc_calls.get("heartbeat_processing_job", 0)
            await anyio.sleep(2.0)
            assert sb.rpc_calls.get("claim_processing_jobs", 0) == claims
            assert sb.rpc_calls.get("heartbeat_processing_job", 0) - probes >= 5
            assert (await admin.get(job["id"]))["status"] == "queued"
            refusals = [line for line in lines if "refused the service role key" in line]
            assert len(refusals) == 1 and refusals[0].startswith("ERROR")

            sb.revoke_key(sb.service_key, revoked=False)
            started = time.monotonic()

            async def succeeded() -> bool:
                return (await admin.get(job["id"]))["status"] == "succeeded"

            await eventually(succeeded)
            assert time.monotonic() - started < 5
            assert (await get_health(port))[0] == 200
            assert any("key works again" in line for line in lines)
            stop.set()
    finally:
        logger.remove(sink)
        await server.aclose()
        await backend.aclose()


async def test_a_key_revoked_mid_job_writes_nothing_and_is_not_storage_failed(
    sb: SupabaseDouble, admin: Admin
) -> None:
    from daemon.lifecycle.budget import PixelBudget
    from daemon.lifecycle.claim import ClaimDeps, ClaimRun, execute_claim

    settings = Settings(  # type: ignore[call-arg]
        supabase_url=sb.url, supabase_service_role_key=SecretStr(sb.service_key), _env_file=None
    )
    backend = await open_supabase_backend(settings)
    try:
        await backend.store.put(
            "vehicle-photos", "lot/car.jpg", studio_jpeg(), content_type="image/jpeg"
        )
        inserted = await admin.insert()
        [job] = await backend.queue.claim("worker-1", 1, 30)
        sb.revoke_key(sb.service_key)
        deps = ClaimDeps(
            queue=backend.queue,
            store=backend.store,
            remover=NoRemover(),
            budget=PixelBudget(10**9),
            pipeline_slots=PipelineSlots(1),
            worker_id="worker-1",
            settings=make_settings(lease_seconds=30),
        )
        run = ClaimRun(job)
        assert await execute_claim(run, deps) == "refused"
        assert run.refused is not None
    finally:
        await backend.aclose()
    row = await admin.get(inserted["id"])
    # Neither failed nor retried as storage_failed: the claim stays until its lease runs out.
    assert (row["status"], row["error"], row["attempts"]) == ("processing", None, 1)
