"""SupabaseDouble: PostgREST, Storage, Realtime and Auth at one base URL on 127.0.0.1, backed by
a real Postgres (the daemon's migrations applied) and a folder. It runs its own event loop in a
thread, so sync tests, async tests and a daemon subprocess can all use it; the controls are
thread-safe.

Keys are HS256 JWTs signed with a secret only the double knows, as a Supabase project's are: the
gateway checks `apikey` (anon or service_role) on every route, PostgREST then runs as the role of
the `Authorization` token (anon, authenticated, service_role) with its claims in
`request.jwt.claims`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from tests.doubles.supabase import cors, jwt
from tests.doubles.supabase.auth import Auth
from tests.doubles.supabase.http import BadRequest, Request, Response, read_request
from tests.doubles.supabase.realtime import (
    NOTIFY_CHANNEL,
    TRIGGER_SQL,
    RealtimeConnection,
)
from tests.doubles.supabase.rest import Rest, pgrst_error
from tests.doubles.supabase.storage import Storage, storage_error

DEFAULT_BUCKETS = {
    "vehicle-photos": False,
    "vehicle-photos-processed": True,
    "processing-cache": False,
}
TEN_YEARS = 10 * 365 * 24 * 3600
BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class SupabaseDouble:
    """A Supabase project on 127.0.0.1 for tests. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        dsn: str,
        storage_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        buckets: dict[str, bool] | None = None,
        admin_buckets: tuple[str, ...] = ("vehicle-photos",),
        require_publication: bool = True,
    ) -> None:
        self.dsn = dsn
        self.storage_dir = Path(storage_dir)
        self.host = host
        self.port = port
        self.admin_buckets = admin_buckets
        self.require_publication = require_publication
        self.jwt_secret = secrets.token_urlsafe(32)
        now = int(time.time())
        base = {"iss": "supabase-double", "iat": now, "exp": now + TEN_YEARS}
        self.service_key = jwt.sign({**base, "role": "service_role"}, self.jwt_secret)
        self.anon_key = jwt.sign({**base, "role": "anon"}, self.jwt_secret)
        #: A service_role key signed by another project: what a wrong key looks like.
        self.wrong_service_key = jwt.sign(
            {**base, "role": "service_role"}, secrets.token_urlsafe(32)
        )
        self.admin_user_id = str(uuid.uuid4())
        self.admin_token = self.user_token(self.admin_user_id, app_role="admin")
        #: Supabase Auth: users who sign in with email and password (see `add_user`).
        self.auth = Auth(self.jwt_secret)
        # Buckets: as given, else as the migrations made them in storage.buckets (at start).
        self._buckets_given = buckets is not None
        self.storage = Storage(self.storage_dir, dict(buckets or DEFAULT_BUCKETS))

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._pool: AsyncConnectionPool[Any] | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._columns: list[dict[str, str]] = []
        self._connections: set[RealtimeConnection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._storage_faults: list[tuple[int, bool]] = []
        self._rest_faults: list[tuple[int, bool]] = []
        self._reject_realtime = False
        self._revoked: set[str] = set()
        #: Counters for assertions: accepted websockets, HTTP requests per route kind, and
        #: PostgREST RPC calls per function (refused ones included).
        self.realtime_connects = 0
        self.requests: dict[str, int] = {"rest": 0, "storage": 0, "realtime": 0, "auth": 0}
        self.rpc_calls: dict[str, int] = {}

    # -- keys ----------------------------------------------------------------------------------

    def user_token(self, user_id: str | None = None, *, app_role: str | None = None) -> str:
        """A signed-in user's access token; `app_role="admin"` makes a processing admin."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "supabase-double",
            "aud": "authenticated",
            "role": "authenticated",
            "sub": user_id or str(uuid.uuid4()),
            "email": "user@example.test",
            "iat": now,
            "exp": now + 3600,
            "app_metadata": {"provider": "email", **({"role": app_role} if app_role else {})},
        }
        return jwt.sign(claims, self.jwt_secret)

    def add_user(self, email: str, password: str, *, admin: bool = False) -> str:
        """A confirmed email user who can sign in with this password; `admin` sets
        `app_metadata.role = 'admin'` (a processing admin). Returns the user id."""
        return self.auth.add_user(email, password, app_role="admin" if admin else None)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SupabaseDouble:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="supabase-double", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._run(self._stop(), timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> SupabaseDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, coro: Any, timeout: float = 30) -> Any:
        assert self._loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    async def _start(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            await conn.execute(TRIGGER_SQL)
            cur = await conn.execute(
                """
                select a.attname, t.typname from pg_attribute a join pg_type t on t.oid = a.atttypid
                where a.attrelid = 'public.processing_jobs'::regclass and a.attnum > 0
                  and not a.attisdropped order by a.attnum
                """
            )
            self._columns = [{"name": n, "type": t} for n, t in await cur.fetchall()]
            cur = await conn.execute("select to_regclass('storage.buckets') is not null")
            has_buckets = await cur.fetchone()
            if not self._buckets_given and has_buckets and has_buckets[0]:
                cur = await conn.execute(
                    "select coalesce(json_object_agg(id, public), '{}') from storage.buckets"
                )
                row = await cur.fetchone()
                if row and row[0]:
                    self.storage = Storage(self.storage_dir, dict(row[0]))
        self._pool = AsyncConnectionPool(
            self.dsn, min_size=1, max_size=8, kwargs={"autocommit": True}, open=False
        )
        await self._pool.open(wait=True, timeout=10)
        self.rest = Rest(self._pool)
        listener = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        await listener.execute(f"listen {NOTIFY_CHANNEL}")
        self._listen_task = asyncio.create_task(self._listen(listener))
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=2**20)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection._abort()
        for task in [self._listen_task, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._pool is not None:
            await self._pool.close()
        with contextlib.suppress(Exception):
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                await conn.execute(
                    "drop trigger if exists zz_realtime_double on public.processing_jobs"
                )

    # -- test controls (thread-safe) -----------------------------------------------------------

    def _call(self, fn: Any, *args: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn, *args)

    def close_realtime(self, code: int = 1000, reason: str = "") -> None:
        """Close every open Realtime socket with this close code (1000 normal, 1011 error)."""

        def close_all() -> None:
            for connection in list(self._connections):
                connection.close(code, reason)

        self._call(close_all)

    def stall_realtime(self) -> None:
        """Every open Realtime socket goes silent (no reads, no pongs, no events); new sockets
        work as usual, the way a dead NAT mapping or proxy behaves."""

        def stall_all() -> None:
            for connection in list(self._connections):
                connection.stall()

        self._call(stall_all)

    def close_channels(
        self, reason: str = "Realtime was unable to connect to the database"
    ) -> None:
        """A server-side channel error on every channel: system error, then phx_close."""

        def close_all() -> None:
            for connection in list(self._connections):
                connection.close_channels(reason)

        self._call(close_all)

    def reject_realtime(self, on: bool = True) -> None:
        """Refuse new Realtime sockets at the HTTP upgrade (403), whatever the key."""
        self._reject_realtime = on

    def revoke_key(self, key: str, revoked: bool = True) -> None:
        """From now on the gateway refuses `key` on every route (401 "Invalid API key"), as
        after the project's keys were rolled; `revoked=False` lets it in again."""
        if revoked:
            self._revoked.add(key)
        else:
            self._revoked.discard(key)

    def fail_storage_next(self, n: int = 1, status: int = 502, html: bool = True) -> None:
        """The next `n` Storage requests answer `status` (an HTML page, as a proxy sends it)."""
        self._storage_faults.extend([(status, html)] * n)

    def fail_rest_next(self, n: int = 1, status: int = 502, html: bool = True) -> None:
        """The next `n` PostgREST requests answer `status` (an HTML page, as a proxy sends it)."""
        self._rest_faults.extend([(status, html)] * n)

    @property
    def realtime_sockets(self) -> int:
        """Realtime sockets open now (stalled ones included)."""
        return len(self._connections)

    def channel_count(self) -> int:
        return sum(len(c.channels) for c in list(self._connections))

    def channel_claims(self) -> list[dict[str, Any]]:
        """The JWT claims each open channel runs as now (what RLS filters its changes by)."""
        return [dict(ch.claims) for c in list(self._connections) for ch in c.channels.values()]

    # -- HTTP ----------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    request = await read_request(reader)
                except (BadRequest, ValueError):
                    writer.write(Response.json(400, {"message": "Bad request"}).encode())
                    break
                if request is None:
                    break
                if request.path == "/realtime/v1/websocket" and "upgrade" in request.headers:
                    await self._realtime(reader, writer, request)
                    return
                try:
                    if cors.is_preflight(request):
                        response = cors.preflight(request)
                    else:
                        response = await self._route(request)
                except Exception as exc:  # a bug in the double: say so, like a 500 would
                    response = Response.json(500, {"message": f"double error: {exc!r}"})
                cors.add_headers(response)
                writer.write(response.encode(head=request.method == "HEAD"))
                await writer.drain()
                if request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _apikey(self, request: Request) -> dict[str, Any] | Response:
        """The gateway's check of the `apikey` header (or query parameter)."""
        key = request.headers.get("apikey") or request.query_dict().get("apikey")
        if not key:
            return Response.json(
                401,
                {
                    "message": "No API key found in request",
                    "hint": "No `apikey` request header or url param was found.",
                },
            )
        try:
            claims = {} if key in self._revoked else jwt.verify(key, self.jwt_secret)
        except jwt.InvalidToken:
            claims = {}
        if claims.get("role") not in ("anon", "service_role"):
            return Response.json(
                401,
                {
                    "message": "Invalid API key",
                    "hint": "Double check your Supabase `anon` or `service_role` API key.",
                },
            )
        return claims

    def _bearer(self, request: Request, default: dict[str, Any]) -> dict[str, Any]:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return default
        return jwt.verify(auth[7:].strip(), self.jwt_secret)

    async def _route(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/rest/v1/"):
            self.requests["rest"] += 1
            if path.startswith("/rest/v1/rpc/"):
                fn = path.removeprefix("/rest/v1/rpc/")
                self.rpc_calls[fn] = self.rpc_calls.get(fn, 0) + 1
            if self._rest_faults:
                status, html = self._rest_faults.pop(0)
                if html:
                    return Response.html(status, BAD_GATEWAY_HTML)
                return pgrst_error(status, "PGRST000", "Injected failure")
            return await self._rest(request, path.removeprefix("/rest/v1/"))
        if path.startswith("/storage/v1/"):
            self.requests["storage"] += 1
            if self._storage_faults:
                status, html = self._storage_faults.pop(0)
                if html:
                    return Response.html(status, BAD_GATEWAY_HTML)
                return storage_error(status, "InternalError", "Injected failure")
            return self._storage(request, path.removeprefix("/storage/v1/"))
        if path.startswith("/auth/v1/"):
            self.requests["auth"] += 1
            key_claims = self._apikey(request)
            if isinstance(key_claims, Response):
                return key_claims
            return self.auth.route(request, path.removeprefix("/auth/v1/"))
        return Response.json(404, {"message": "no Route matched with those values"})

    async def _rest(self, request: Request, rest: str) -> Response:
        key_claims = self._apikey(request)
        if isinstance(key_claims, Response):
            return key_claims
        try:
            claims = self._bearer(request, key_claims)
        except jwt.InvalidToken as exc:
            return pgrst_error(401, "PGRST301", str(exc))
        if rest.startswith("rpc/") and request.method == "POST":
            return await self.rest.rpc(request, rest.removeprefix("rpc/"), claims)
        if "/" not in rest and rest:
            return await self.rest.table(request, rest, claims)
        return pgrst_error(404, "PGRST125", f"Invalid path specified in request URL: /{rest}")

    def _storage(self, request: Request, rest: str) -> Response:
        parts = rest.split("/")
        if (
            parts[:2] == ["object", "public"]
            and request.method in ("GET", "HEAD")
            and len(parts) > 3
        ):
            return self.storage.download(
                parts[2], "/".join(parts[3:]), public=True, head=request.method == "HEAD"
            )
        key_claims = self._apikey(request)
        if isinstance(key_claims, Response):
            return key_claims
        try:
            claims = self._bearer(request, key_claims)
        except jwt.InvalidToken as exc:
            return storage_error(403, "Unauthorized", str(exc).replace("JWSError ", ""))
        if parts[0] != "object" or len(parts) < 2:
            return storage_error(404, "not_found", "Route not found")
        role = str(claims.get("role"))
        if parts[1] == "list" and len(parts) == 3 and request.method == "POST":
            bucket, key = parts[2], ""
        elif parts[1] == "info" and len(parts) > 3:
            bucket, key = parts[2], "/".join(parts[3:])
        else:
            bucket, key = parts[1], "/".join(parts[2:])
        admin = claims.get("app_metadata", {}).get("role") == "admin" and role == "authenticated"
        if role != "service_role" and not (admin and bucket in self.admin_buckets):
            return storage_error(403, "Unauthorized", "new row violates row-level security policy")
        if parts[1] == "list":
            return self.storage.list(request, bucket)
        if parts[1] == "info":
            response = self.storage.download(bucket, key, head=True)
            if response.status != 200:
                return response
            meta = self.storage.read_meta(bucket, key)
            return Response.json(
                200,
                {
                    "id": meta.get("id"),
                    "name": key,
                    "bucket_id": bucket,
                    "size": meta.get("size"),
                    "content_type": meta.get("mimetype"),
                    "cache_control": meta.get("cacheControl"),
                },
            )
        if request.method in ("POST", "PUT") and key:
            return self.storage.upload(request, bucket, key, role)
        if request.method in ("GET", "HEAD") and key:
            return self.storage.download(bucket, key, head=request.method == "HEAD")
        if request.method == "DELETE" and not key:
            return self.storage.remove(request, bucket)
        return storage_error(404, "not_found", "Route not found")

    # -- Realtime ------------------------------------------------------------------------------

    async def _realtime(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request
    ) -> None:
        self.requests["realtime"] += 1
        key_claims = self._apikey(request)
        if self._reject_realtime and not isinstance(key_claims, Response):
            key_claims = Response.json(403, {"error": "Realtime refused this connection"})
        if isinstance(key_claims, Response):
            body = json.loads(key_claims.body)
            message = body.get("error") or body.get("message")
            writer.write(Response.json(key_claims.status, {"error": message}).encode())
            await writer.drain()
            writer.close()
            return
        connection = RealtimeConnection(
            reader,
            writer,
            request,
            key_claims,
            verify=lambda token: jwt.verify(token, self.jwt_secret),
            published=self._published,
        )
        self._connections.add(connection)
        self.realtime_connects += 1
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)

    async def _published(self, schema: str, table: str) -> bool:
        if not self.require_publication:
            return True
        assert self._pool is not None
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "select exists(select 1 from pg_publication_tables where pubname = "
                "'supabase_realtime' and schemaname = %s and (tablename = %s or %s = '*'))",
                (schema, table, table),
            )
            row = await cur.fetchone()
        return bool(row and row[0])

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            async for notify in conn.notifies():
                try:
                    change = json.loads(notify.payload)
                except ValueError:
                    continue
                change["columns"] = self._columns
                await self._dispatch(change)
        finally:
            await conn.close()

    async def _dispatch(self, change: dict[str, Any]) -> None:
        data = {k: v for k, v in change.items() if v is not None or k == "errors"}
        if change["type"] == "INSERT":
            data.pop("old_record", None)
        if change["type"] == "DELETE":
            data.pop("record", None)
        for connection in list(self._connections):
            for channel in list(connection.channels.values()):
                ids = channel.ids_for(change)
                if ids and await self._visible(channel.claims, change):
                    connection.deliver(channel, ids, data)

    async def _visible(self, claims: dict[str, Any], change: dict[str, Any]) -> bool:
        """RLS decides who sees a change (service_role bypasses it), as in Realtime."""
        if claims.get("role") == "service_role":
            return True
        row = change.get("record") or change.get("old_record") or {}
        if "id" not in row or change["type"] == "DELETE":
            return False
        assert self._pool is not None
        from tests.doubles.supabase.rest import begin_as

        try:
            async with self._pool.connection() as conn, conn.transaction():
                await begin_as(conn, claims)
                cur = await conn.execute(
                    "select exists(select 1 from public.processing_jobs where id = %s::uuid)",
                    (str(row["id"]),),
                )
                found = await cur.fetchone()
        except psycopg.Error:
            return False
        return bool(found and found[0])


@contextlib.contextmanager
def supabase_double(dsn: str, tmp_path: Path, **kwargs: Any) -> Iterator[SupabaseDouble]:
    """A running SupabaseDouble with its storage folder under `tmp_path`."""
    with SupabaseDouble(dsn, Path(tmp_path) / "supabase-storage", **kwargs) as double:
        yield double
