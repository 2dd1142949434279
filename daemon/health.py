"""The health and metrics port: GET /health, GET /metrics, POST /hooks/processing-jobs.

A few routes on asyncio's own server: a web framework would be the largest dependency of the
daemon for three fixed routes. /health answers 200 only while the worker loop turns and the queue
answers; the webhook route turns a Supabase Database Webhook into a hint (never more than a hint),
accepted only with the shared secret.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from daemon import metrics
from daemon.jobs.health_state import assess
from daemon.jobs.worker import Worker

WEBHOOK_PATH = "/hooks/processing-jobs"
WEBHOOK_SECRET_HEADER = "x-webhook-secret"
MAX_BODY = 1 << 20


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


_REASONS = {
    200: "OK",
    202: "Accepted",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    400: "Bad Request",
    503: "Service Unavailable",
}


def _json(status: int, payload: dict[str, Any]) -> Response:
    return Response(status, json.dumps(payload).encode())


class HealthServer:
    def __init__(
        self,
        worker: Worker,
        *,
        host: str,
        port: int,
        webhook_secret: str | None = None,
        stall_after: float | None = None,
    ) -> None:
        self.worker = worker
        self.host = host
        self.port = port
        self.webhook_secret = webhook_secret
        # The loop ticks at least once per poll interval; three missed ticks is a stall.
        self.stall_after = stall_after or max(15.0, worker.settings.poll_interval_seconds * 3 + 5)
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("health and metrics on port {}", self.port)
        return self.port

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with anyio.fail_after(10):
                response = await self._respond(reader)
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, ConnectionError):
            response = _json(400, {"error": "bad request"})
        try:
            head = (
                f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'OK')}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + response.body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> Response:
        request_line = (await reader.readline()).decode("latin-1").strip()
        method, _, rest = request_line.partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        headers: dict[str, str] = {}
        while True:
            line = (await reader.readline()).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        if length > MAX_BODY:
            return _json(413, {"error": "body too large"})
        body = await reader.readexactly(length) if length else b""

        routes: dict[tuple[str, str], Callable[[], Awaitable[Response]]] = {
            ("GET", "/health"): self._health,
            ("GET", "/metrics"): self._metrics,
            ("POST", WEBHOOK_PATH): lambda: self._webhook(headers, body),
        }
        handler = routes.get((method, path))
        if handler is None:
            known = any(p == path for _, p in routes)
            return _json(405 if known else 404, {"error": "not found"})
        return await handler()

    async def _health(self) -> Response:
        worker = self.worker
        status, body = await assess(
            worker.health,
            worker.backend.queue,
            worker.backend.wakeups,
            stall_after=self.stall_after,
            details={"worker": worker.worker_id, "active_jobs": len(worker.active)},
        )
        return _json(status, body)

    async def _metrics(self) -> Response:
        return Response(200, generate_latest(metrics.REGISTRY), CONTENT_TYPE_LATEST)

    async def _webhook(self, headers: dict[str, str], body: bytes) -> Response:
        given = headers.get(WEBHOOK_SECRET_HEADER, "")
        secret = self.webhook_secret
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return _json(401, {"error": "missing or wrong webhook secret"})
        reason = "webhook"
        try:
            record = json.loads(body or b"{}").get("record") or {}
            reason = str(record.get("status") or "webhook")
        except (ValueError, AttributeError):
            pass
        if reason in {"queued", "cancelled", "webhook"}:
            self.worker.wake("webhook", reason)
        return _json(202, {"accepted": True})
