"""The health, metrics and webhook port: its limits, and /health within a second, always."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import pytest

from daemon.adapters import Backend
from daemon.adapters.filesystem import FilesystemStore
from daemon.app import http_port
from daemon.app.http_port import MAX_BODY, MAX_CONNECTIONS, WEBHOOK_PATH, HealthServer
from daemon.lifecycle.claim import ClaimRun
from daemon.lifecycle.worker import Worker
from daemon.pipeline.removal import NoRemover
from daemon.ports import ClaimedJob
from tests.settings import make_settings

pytestmark = pytest.mark.anyio
SECRET = "s3cret"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Queue:
    """A JobQueue double whose ping can hang, as behind a network black hole."""

    def __init__(self) -> None:
        self.stuck = False

    async def claim(self, worker_id: str, max_jobs: int, lease_seconds: int) -> list[ClaimedJob]:
        return []

    async def ping(self) -> None:
        if self.stuck:
            await anyio.sleep_forever()

    async def queue_depth(self) -> dict[str, int] | None:
        return None

    async def aclose(self) -> None:
        return None


class Wakeups:
    def __init__(self) -> None:
        self.stuck = False

    async def hints(self) -> Any:
        await anyio.sleep_forever()
        yield "never"

    async def healthy(self) -> bool:
        if self.stuck:
            await anyio.sleep_forever()
        return True

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[tuple[int, Worker]]:
    queue, wakeups = Queue(), Wakeups()
    backend = Backend("test", queue, FilesystemStore(tmp_path), wakeups)  # type: ignore[arg-type]
    worker = Worker(backend, NoRemover(), make_settings(poll_interval_seconds=30.0), "test-worker")
    server = HealthServer(worker, host="127.0.0.1", port=0, webhook_secret=SECRET)
    number = await server.start()
    try:
        yield number, worker
    finally:
        await server.aclose()


async def exchange(port: int, raw: bytes, *, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send raw bytes, read the answer until the server closes or answers; (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        with anyio.fail_after(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            body = await reader.readexactly(length) if length else b""
        return status, body
    finally:
        writer.close()


def request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_health_answers_503_within_a_second_behind_a_black_hole(
    port: tuple[int, Worker],
) -> None:
    number, worker = port
    assert (await exchange(number, request("GET", "/health")))[0] == 200
    worker.backend.queue.stuck = True  # type: ignore[attr-defined]
    worker.backend.wakeups.stuck = True  # type: ignore[attr-defined]
    started = time.monotonic()
    status, body = await exchange(number, request("GET", "/health"), timeout=2.0)
    took = time.monotonic() - started
    answer = json.loads(body)
    assert status == 503 and took < 1.0, (status, took)
    assert answer["reason"] == "queue unreachable: no answer within 0.6 s"
    assert answer["wakeups"] == "polling"


async def test_a_body_over_the_limit_is_refused_and_wakes_nobody(port: tuple[int, Worker]) -> None:
    number, worker = port
    big = json.dumps({"record": {"status": "queued", "pad": "x" * MAX_BODY}}).encode()
    status, body = await exchange(
        number, request("POST", WEBHOOK_PATH, big, {"x-webhook-secret": SECRET})
    )
    assert status == 413 and json.loads(body)["error"]
    assert not worker._wake.is_set()
    small = json.dumps({"record": {"status": "queued"}}).encode()
    status, _ = await exchange(
        number, request("POST", WEBHOOK_PATH, small, {"x-webhook-secret": SECRET})
    )
    assert status == 202 and worker._wake.is_set()


def _claim(revision: int = 2) -> ClaimRun:
    job = ClaimedJob(uuid4(), uuid4(), "vehicle-photos", "lot/car.jpg", {}, revision, 1, 3)
    return ClaimRun(job)


def _webhook(record: dict[str, Any]) -> bytes:
    # The body a Supabase Database Webhook posts for an UPDATE.
    body = {"type": "UPDATE", "table": "processing_jobs", "schema": "public", "record": record}
    return request("POST", WEBHOOK_PATH, json.dumps(body).encode(), {"x-webhook-secret": SECRET})


async def test_a_webhook_naming_a_cancelled_claim_makes_it_ask_its_heartbeat_at_once(
    port: tuple[int, Worker],
) -> None:
    number, worker = port
    cancelled, requeued_past, other = _claim(), _claim(), _claim()
    for run in (cancelled, requeued_past, other):
        worker.active[run.job.id] = run
    # A row still processing says nothing: no wake-up, no heartbeat.
    status, _ = await exchange(
        number, _webhook({"id": str(other.job.id), "status": "processing", "revision": 2})
    )
    assert status == 202 and not worker._wake.is_set()
    for record in (
        {"id": str(cancelled.job.id), "status": "cancelled", "revision": 2},
        {"id": str(requeued_past.job.id), "status": "queued", "revision": 3},
    ):
        status, _ = await exchange(number, _webhook(record))
        assert status == 202
    assert worker._wake.is_set()
    # Both named claims heartbeat now; the webhook's word alone stops neither (the heartbeat,
    # one round trip later, does if the database agrees).
    for run in (cancelled, requeued_past):
        assert run._changed.is_set() and not run.lost
    assert not other._changed.is_set()


async def test_oversized_and_too_many_headers_are_refused(port: tuple[int, Worker]) -> None:
    number, _ = port
    status, _ = await exchange(number, request("GET", "/health", headers={"x-big": "y" * 9000}))
    assert status in (400, 431)
    many = {f"x-h{i}": "1" for i in range(100)}
    status, _ = await exchange(number, request("GET", "/health", headers=many))
    assert status in (400, 431)
    status, _ = await exchange(number, request("GET", "/" + "a" * 9000))
    assert status in (400, 414)
    assert (await exchange(number, request("GET", "/health")))[0] == 200


async def test_connections_over_the_limit_get_503_until_some_close(
    port: tuple[int, Worker],
) -> None:
    number, _ = port
    idle = [await asyncio.open_connection("127.0.0.1", number) for _ in range(MAX_CONNECTIONS)]
    try:
        await anyio.sleep(0.1)
        status, body = await exchange(number, request("GET", "/health"))
        assert status == 503 and json.loads(body) == {"error": "too many requests"}
    finally:
        for _, writer in idle:
            writer.close()
    await anyio.sleep(0.2)
    assert (await exchange(number, request("GET", "/health")))[0] == 200


async def test_a_slow_client_is_cut_off(
    port: tuple[int, Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    number, _ = port
    monkeypatch.setattr(http_port, "CONNECTION_SECONDS", 0.5)
    # Headers that never end: the connection is closed when its time is up.
    reader, writer = await asyncio.open_connection("127.0.0.1", number)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    await writer.drain()
    started = time.monotonic()
    with anyio.fail_after(3):
        assert await reader.read() == b""
    assert time.monotonic() - started < 2
    writer.close()
    # A body announced but never sent: the request is answered 408 in its time.
    monkeypatch.setattr(http_port, "CONNECTION_SECONDS", 30.0)
    monkeypatch.setattr(http_port, "REQUEST_SECONDS", 0.3)
    head = f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nx-webhook-secret: {SECRET}\r\n"
    status, _ = await exchange(number, (head + "Content-Length: 100\r\n\r\n{").encode(), timeout=3)
    assert status == 408


async def test_the_webhook_secret_is_compared_in_constant_time(
    port: tuple[int, Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    number, _ = port
    compared: list[tuple[bytes, bytes]] = []
    real = http_port.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(http_port.hmac, "compare_digest", spy)
    status, _ = await exchange(
        number, request("POST", WEBHOOK_PATH, b"{}", {"x-webhook-secret": "no"})
    )
    assert status == 401 and compared == [(b"no", SECRET.encode())]


async def test_metrics_and_unknown_routes(port: tuple[int, Worker]) -> None:
    number, _ = port
    status, body = await exchange(number, request("GET", "/metrics"))
    assert status == 200 and b"job_claims_total" in body
    status, body = await exchange(number, request("GET", "/nothing"))
    assert status == 404 and json.loads(body) == {"error": "not found"}
    status, _ = await exchange(number, request("POST", "/health"))
    assert status == 405
