"""Adapters map their libraries' exceptions by name; anything else is a bug, never an outage.

A bug inside an adapter call escapes as itself, and a job that meets one fails with
internal_error (its traceback in the log, never in the row) instead of being retried as
storage_failed or a queue outage.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from loguru import logger
from storage3._async.file_api import AsyncBucketActionsMixin

from daemon.adapters.supabase import (
    RPC_TIMEOUT,
    STORAGE_TIMEOUT,
    SupabaseQueue,
    SupabaseStore,
    make_client,
)
from daemon.domain.errors import QueueUnavailable, StorageFailed
from daemon.lifecycle.budget import PixelBudget
from daemon.lifecycle.claim import ClaimDeps, ClaimRun, execute_claim
from daemon.lifecycle.slots import PipelineSlots
from daemon.pipeline.removal import NoRemover
from tests.doubles.supabase import SupabaseDouble
from tests.integration.supabase.conftest import Admin
from tests.settings import make_settings

pytestmark = pytest.mark.anyio


async def test_a_bug_inside_an_rpc_call_is_not_an_outage(queue: SupabaseQueue) -> None:
    # postgrest-py serialises the arguments itself: an object that is not JSON is our bug.
    with pytest.raises(TypeError, match="not JSON serializable"):
        await queue._call("claim_processing_jobs", {"worker_id": object()})


async def test_network_failures_of_an_rpc_are_still_an_outage(
    queue: SupabaseQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def timeout(*args: Any, **kwargs: Any) -> Any:
        raise httpx.ReadTimeout("read timed out")

    monkeypatch.setattr(httpx.AsyncClient, "send", timeout)
    with pytest.raises(QueueUnavailable, match="in time"):
        await queue.ping()


async def test_a_bug_inside_a_storage_call_is_not_storage_failed(
    store: SupabaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: Any, *args: Any, **kwargs: Any) -> bytes:
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.setattr(AsyncBucketActionsMixin, "download", broken)
    with pytest.raises(TypeError, match="not subscriptable"):
        await store.get("vehicle-photos", "lot/car.jpg")


async def test_network_failures_of_storage_are_still_storage_failed() -> None:
    store = SupabaseStore(make_client("http://127.0.0.1:9", "k", STORAGE_TIMEOUT), "http://x")
    try:
        with pytest.raises(StorageFailed, match="ConnectError"):
            await store.get("vehicle-photos", "lot/car.jpg")
        with pytest.raises(StorageFailed):
            await store.put("vehicle-photos-processed", "a/r0/b.webp", b"x", content_type="a/b")
    finally:
        await store.aclose()


async def test_a_job_that_meets_a_bug_in_an_adapter_fails_with_internal_error(
    sb: SupabaseDouble, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: Any, *args: Any, **kwargs: Any) -> bytes:
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.setattr(AsyncBucketActionsMixin, "download", broken)
    lines: list[str] = []
    sink = logger.add(lines.append, level="ERROR", format="{message}\n{exception}")
    queue = SupabaseQueue(make_client(sb.url, sb.service_key, RPC_TIMEOUT))
    store = SupabaseStore(make_client(sb.url, sb.service_key, STORAGE_TIMEOUT), sb.url)
    try:
        inserted = await admin.insert(max_attempts=3)
        [job] = await queue.claim("worker-1", 1, 30)
        deps = ClaimDeps(
            queue=queue,
            store=store,
            remover=NoRemover(),
            budget=PixelBudget(10**9),
            pipeline_slots=PipelineSlots(1),
            worker_id="worker-1",
            settings=make_settings(lease_seconds=30),
        )
        assert await execute_claim(ClaimRun(job), deps) == "failed"
    finally:
        logger.remove(sink)
        await queue.aclose()
        await store.aclose()
    row = await admin.get(inserted["id"])
    # Failed at once (attempts were left), as a bug: not storage_failed, not retried.
    assert row["status"] == "failed"
    assert row["error"]["code"] == "internal_error" and row["error"]["retryable"] is False
    assert "Traceback" not in row["error"]["message"]
    assert "subscriptable" not in row["error"]["message"]
    log = "".join(lines)
    assert "Traceback" in log and "not subscriptable" in log
    assert uuid.UUID(inserted["id"]) == job.id
