"""In-process tests of the lifecycle's parts: the pixel budget, output paths, debounce, health."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from daemon.adapters import Backend
from daemon.adapters.filesystem import FilesystemStore
from daemon.app.http_port import WEBHOOK_PATH, HealthServer
from daemon.lifecycle.budget import PixelBudget
from daemon.lifecycle.outputs import old_revision_paths, output_path
from daemon.lifecycle.worker import Worker
from daemon.pipeline.removal import NoRemover
from daemon.ports import ClaimedJob, Hint, QueueUnavailable
from tests.settings import make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_pixel_budget_never_exceeds_its_capacity_and_runs_oversized_images_alone() -> None:
    budget = PixelBudget(100)
    in_use: list[int] = []

    async def job(pixels: int) -> None:
        async with budget.hold(pixels):
            in_use.append(budget.in_use)
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        for pixels in (60, 60, 30, 250, 10, 90, 40):
            tg.start_soon(job, pixels)
    assert max(in_use) <= 100
    assert budget.peak <= 100
    assert budget.in_use == 0
    assert len(in_use) == 7  # the 250-pixel image ran too, alone


def test_output_paths_carry_the_revision_and_old_revisions_are_found() -> None:
    job = uuid.UUID("7b0c6c52-7e5a-4a63-8f57-2d2c5bb2f6a1")
    assert output_path(job, 3, "grid", "webp") == f"{job}/r3/grid.webp"
    existing = [
        f"{job}/r1/grid.webp",
        f"{job}/r3/grid.webp",
        f"{job}/r12/detail.jpg",
        "other/r1/x.png",
    ]
    assert old_revision_paths(job, 3, existing) == [f"{job}/r1/grid.webp", f"{job}/r12/detail.jpg"]
    assert old_revision_paths(job, 1, existing) == [f"{job}/r3/grid.webp", f"{job}/r12/detail.jpg"]


class CountingQueue:
    """A JobQueue double with nothing to hand out: counts the claims a burst of hints causes."""

    def __init__(self) -> None:
        self.claim_calls = 0
        self.down = False

    async def claim(self, worker_id: str, max_jobs: int, lease_seconds: int) -> list[ClaimedJob]:
        self.claim_calls += 1
        await anyio.sleep(0.01)
        return []

    async def ping(self) -> None:
        if self.down:
            raise QueueUnavailable("connection refused")

    async def queue_depth(self) -> dict[str, int] | None:
        return None

    async def aclose(self) -> None:
        return None


class BurstWakeups:
    def __init__(self, burst: int) -> None:
        self.burst = burst

    async def hints(self) -> Any:
        for _ in range(self.burst):
            yield Hint("queued")
        await anyio.sleep_forever()

    async def healthy(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def make_worker(queue: CountingQueue, tmp_path: Path, burst: int = 0, poll: float = 30.0) -> Worker:
    backend = Backend("test", queue, FilesystemStore(tmp_path), BurstWakeups(burst))  # type: ignore[arg-type]
    return Worker(
        backend,
        NoRemover(),
        make_settings(poll_interval_seconds=poll, worker_concurrency=4),
        "test-worker",
    )


async def test_a_burst_of_50000_hints_costs_a_handful_of_claims(tmp_path: Path) -> None:
    queue = CountingQueue()
    worker = make_worker(queue, tmp_path, burst=50_000)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run, stop)
        await anyio.sleep(1.0)
        stop.set()
    assert 1 <= queue.claim_calls <= 10


async def http(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    def call() -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=body or None,
            method=method,
            headers=headers or {},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    return await anyio.to_thread.run_sync(call)


async def test_health_reports_the_queue_and_the_webhook_needs_its_secret(tmp_path: Path) -> None:
    queue = CountingQueue()
    worker = make_worker(queue, tmp_path)
    server = HealthServer(worker, host="127.0.0.1", port=0, webhook_secret="s3cret")
    port = await server.start()
    try:
        status, body = await http(port, "GET", "/health")
        assert (status, body["status"]) == (200, "healthy")
        queue.down = True
        status, body = await http(port, "GET", "/health")
        assert status == 503 and body["reason"] == "queue unreachable: connection refused"

        payload = json.dumps({"type": "INSERT", "record": {"status": "queued"}}).encode()
        status, _ = await http(port, "POST", WEBHOOK_PATH, payload)
        assert status == 401
        status, _ = await http(port, "POST", WEBHOOK_PATH, payload, {"x-webhook-secret": "nope"})
        assert status == 401
        assert not worker._wake.is_set()
        status, _ = await http(port, "POST", WEBHOOK_PATH, payload, {"x-webhook-secret": "s3cret"})
        assert status == 202
        assert worker._wake.is_set()
        assert (await http(port, "GET", "/nothing"))[0] == 404
    finally:
        await server.aclose()


async def test_filesystem_store_refuses_paths_that_leave_their_bucket(tmp_path: Path) -> None:
    from daemon.domain.errors import SourceNotFound

    store = FilesystemStore(tmp_path)
    for bad in ("../x", "a/../../x", "/etc/passwd", ""):
        with pytest.raises(SourceNotFound):
            await store.get("bucket", bad)
    with pytest.raises(SourceNotFound):
        await store.get("..", "x")


def test_a_hint_stops_a_claim_only_when_its_revision_says_the_claim_is_stale() -> None:
    from daemon.ports import JobChange

    job = uuid.uuid4()
    assert JobChange(job, "cancelled", 2).verdict(2) == "stale"
    assert JobChange(job, "queued", 3).verdict(2) == "stale"
    # Older than the claim (a cancel, then a requeue that this worker claimed): ignored.
    assert JobChange(job, "cancelled", 1).verdict(2) == "ignore"
    assert JobChange(job, "queued", 1).verdict(2) == "ignore"
    # Cannot tell: the claim's heartbeat decides, at once.
    assert JobChange(job, "queued", 2).verdict(2) == "check"
    assert JobChange(job, "cancelled").verdict(2) == "check"


def test_notify_and_realtime_payloads_become_typed_hints() -> None:
    from daemon.adapters.postgres.wakeups import parse_notify
    from daemon.adapters.supabase.wakeups import row_changes
    from daemon.ports import JobChange

    a, b = uuid.uuid4(), uuid.uuid4()
    payload = {"status": "cancelled", "op": "update", "cancelled_ids": [str(a), str(b)]}
    hint = parse_notify(json.dumps(payload))
    assert hint == Hint("cancelled", (JobChange(a, "cancelled"), JobChange(b, "cancelled")))
    assert parse_notify('{"status": "queued", "op": "insert", "queued": 3}') == Hint("queued")
    requeue = '{"status": "queued", "op": "update", "queued": 2, "cancelled_ids": []}'
    assert parse_notify(requeue) == Hint("queued", unnamed_requeues=True)
    assert parse_notify("not json") == Hint("notify")

    record = {"id": str(a), "status": "queued", "revision": 4}
    assert row_changes({"data": {"record": record}}) == (JobChange(a, "queued", 4),)
    trimmed = {"id": str(a), "status": "cancelled"}  # over Realtime's size limit
    assert row_changes({"data": {"record": trimmed}}) == (JobChange(a, "cancelled", None),)
    assert row_changes({"data": {"record": {"id": str(a), "status": "processing"}}}) == ()
    assert row_changes({"data": {"type": "DELETE"}}) == ()
