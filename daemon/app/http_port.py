"""The health, metrics and webhook port: GET /health, GET /metrics, POST /hooks/processing-jobs.

Served by aiohttp's web server rather than a hand-parsed HTTP/1.1 loop: the webhook is the one
port that may face the internet (Database Webhooks need a reachable URL), and aiohttp's parser
is kept up by people who follow HTTP's pitfalls. On top of it, limits for a port that may face
strangers: the body and header sizes, the number of connections, the time per request and per
connection. The webhook turns a Supabase Database Webhook into a hint (never more than a hint),
accepted only with the shared secret, compared in constant time. What /health says is
`daemon.app.health`'s business.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from daemon.app import metrics
from daemon.app.health import HealthCheck
from daemon.lifecycle.worker import Worker
from daemon.ports import Hint, JobChange

__all__ = [
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "MAX_HEADERS",
    "MAX_HEADER_LINE",
    "REQUEST_SECONDS",
    "WEBHOOK_PATH",
    "WEBHOOK_SECRET_HEADER",
    "HealthServer",
]

WEBHOOK_PATH = "/hooks/processing-jobs"
WEBHOOK_SECRET_HEADER = "x-webhook-secret"
WEBHOOK_TABLE = "processing_jobs"
MAX_BODY = 1 << 20  # a webhook's record is a few kB
MAX_HEADER_LINE = 8 * 1024  # the request line and each header field
MAX_HEADERS = 64
MAX_CONNECTIONS = 64  # open at once; more are answered 503 and closed
REQUEST_SECONDS = 10.0  # reading the body and answering
CONNECTION_SECONDS = 30.0  # a connection's whole life, headers included (no slow trickles)
KEEPALIVE_SECONDS = 5.0  # idle between two requests on one connection
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b'Content-Length: 30\r\nConnection: close\r\n\r\n{"error": "too many requests"}'
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _bounded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each request within REQUEST_SECONDS; aiohttp's errors (404, 405, 413) as JSON."""
    try:
        async with asyncio.timeout(REQUEST_SECONDS):
            return await handler(request)
    except TimeoutError:
        return _error(408, "request took too long")
    except ConnectionError:  # the client went away mid-body (or was cut off): not a bug
        return _error(400, "connection lost")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason.lower())


class _Busy(asyncio.Protocol):
    """Answers a connection over the limit with 503 and closes it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_BUSY)
        transport.close()


class HealthServer:
    """The port: health, metrics and the webhook hint, for one worker."""

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
        self.check = HealthCheck(worker, stall_after=stall_after)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[_bounded])
        app.router.add_get("/health", self._health, allow_head=False)
        app.router.add_get("/metrics", self._metrics, allow_head=False)
        app.router.add_post(WEBHOOK_PATH, self._webhook)
        return app

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        runner = web.AppRunner(
            self._app(),
            access_log=None,
            handle_signals=False,
            keepalive_timeout=KEEPALIVE_SECONDS,
            max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE,
            max_headers=MAX_HEADERS,
        )
        await runner.setup()
        self._runner = runner
        loop = asyncio.get_running_loop()
        # aiohttp's own site, but with the connection limits in front of its protocol factory.
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("health and metrics on port {}", self.port)
        return self.port

    def _protocol(self) -> asyncio.BaseProtocol:
        assert self._runner is not None and self._runner.server is not None
        server = self._runner.server
        if len(server.connections) >= MAX_CONNECTIONS:
            return _Busy()
        handler = server()
        # Whatever a client does, its connection ends after CONNECTION_SECONDS.
        asyncio.get_running_loop().call_later(CONNECTION_SECONDS, _close, handler)
        return handler

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        report = await self.check.report()
        return web.json_response(report.body, status=report.status)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        # The secret first: a stranger's body is never read.
        given = request.headers.get(WEBHOOK_SECRET_HEADER, "")
        secret = self.webhook_secret
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return _error(401, "missing or wrong webhook secret")
        body = await request.read()
        try:
            payload: Any = json.loads(body or b"{}")
        except ValueError:
            payload = None
        # A webhook on another table (or a body without one) says nothing of these jobs.
        table = payload.get("table", WEBHOOK_TABLE) if isinstance(payload, dict) else None
        ours = table == WEBHOOK_TABLE
        record = payload.get("record") if ours else None
        status = record.get("status") if isinstance(record, dict) else None
        if ours and (status is None or status in ("queued", "cancelled")):
            # A cancelled or requeued job in flight here asks its heartbeat at once. The row's
            # revision is not taken on trust from a port that may face the internet: the
            # heartbeat, a round trip later, decides (without a revision the verdict is
            # "check"). Anything else, or no row at all, is a plain wake-up.
            change = JobChange.of_record(record)
            changes = (JobChange(change.job_id, change.status),) if change is not None else ()
            self.worker.on_hint(Hint(str(status or "webhook"), changes), source="webhook")
        return web.json_response({"accepted": True}, status=202)


def _close(handler: Any) -> None:
    transport = getattr(handler, "transport", None)
    if transport is not None and not transport.is_closing():
        transport.close()
