"""Supabase Realtime's websocket, as realtime-py (Phoenix V1 JSON objects) and supabase-js
(V2 arrays, `vsn=2.0.0`) speak it: join replies with binding ids, the `system` message that says
postgres_changes are flowing, `postgres_changes` messages, heartbeat replies, leave and
`phx_close`. The WebSocket framing is websockets' sans-I/O protocol over the double's own streams.

Changes come from a trigger the double installs on the table (`realtime_double.capture`, fired
after each row change, sending the row with pg_notify after commit), so subscribers see committed
rows in commit order, like Realtime reading the WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from tests.doubles.supabase.http import Request

NOTIFY_CHANNEL = "realtime_double"

TRIGGER_SQL = f"""
create schema if not exists realtime_double;
create or replace function realtime_double.capture() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  payload jsonb;
begin
  payload := jsonb_build_object(
    'schema', tg_table_schema,
    'table', tg_table_name,
    'type', tg_op,
    'commit_timestamp',
      to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'errors', null,
    'record', case when tg_op = 'DELETE' then null else to_jsonb(new) end,
    'old_record', case when tg_op = 'INSERT' then null else jsonb_build_object('id', old.id) end
  );
  -- NOTIFY payloads stop at 8000 bytes; Realtime also trims big rows and says so in `errors`.
  if octet_length(payload::text) > 7500 then
    payload := payload
      || jsonb_build_object('errors', jsonb_build_array('Error 413: Payload Too Large'))
      || jsonb_build_object('record', case when tg_op = 'DELETE' then null
           else jsonb_build_object('id', new.id, 'status', new.status) end);
  end if;
  perform pg_notify('{NOTIFY_CHANNEL}', payload::text);
  return null;
end $$;
drop trigger if exists zz_realtime_double on public.processing_jobs;
create trigger zz_realtime_double after insert or update or delete on public.processing_jobs
  for each row execute function realtime_double.capture();
"""


def binding_id(binding: dict[str, Any]) -> int:
    """A stable non-zero integer per binding (Realtime hashes the binding too)."""
    return zlib.crc32(json.dumps(binding, sort_keys=True).encode()) or 1


def matches_filter(flt: str | None, row: dict[str, Any] | None) -> bool:
    """Realtime's `column=op.value` filters (eq, neq, lt, lte, gt, gte, in)."""
    if not flt:
        return True
    if row is None:
        return False
    column, _, rest = flt.partition("=")
    op, _, operand = rest.partition(".")
    value = row.get(column)
    text = (
        None
        if value is None
        else (json.dumps(value) if isinstance(value, dict | list) else str(value))
    )
    if isinstance(value, bool):
        text = "true" if value else "false"
    if op == "eq":
        return text == operand
    if op == "neq":
        return text != operand
    if op == "in":
        return text in [i.strip().strip('"') for i in operand.strip("()").split(",")]
    if op in ("lt", "lte", "gt", "gte") and text is not None:
        try:
            left, right = float(text), float(operand)
        except ValueError:
            return False
        return {"lt": left < right, "lte": left <= right, "gt": left > right, "gte": left >= right}[
            op
        ]
    return False


@dataclass
class Channel:
    topic: str
    join_ref: str | None
    claims: dict[str, Any]
    bindings: list[dict[str, Any]] = field(default_factory=list)  # each with its "id"

    def ids_for(self, change: dict[str, Any]) -> list[int]:
        ids = []
        for b in self.bindings:
            if b.get("schema", "public") not in ("*", change["schema"]):
                continue
            if b.get("table", "*") not in ("*", change["table"]):
                continue
            if b.get("event", "*") not in ("*", change["type"]):
                continue
            row = change.get("old_record") if change["type"] == "DELETE" else change.get("record")
            if not matches_filter(b.get("filter"), row):
                continue
            ids.append(int(b["id"]))
        return ids


class RealtimeConnection:
    """One client socket: Phoenix channels over a WebSocket."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
        apikey_claims: dict[str, Any],
        *,
        verify: Callable[[str], dict[str, Any]],
        published: Callable[[str, str], Awaitable[bool]],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.request = request
        self.apikey_claims = apikey_claims
        self.verify = verify
        self.published = published
        self.v2 = request.query_dict().get("vsn", "1.0.0").startswith("2")
        self.protocol = ServerProtocol(max_size=2**22)
        self.channels: dict[str, Channel] = {}
        self.stalled = False
        self.closed = asyncio.Event()
        self.heartbeats = 0

    # -- wire ----------------------------------------------------------------------------------

    def _flush(self) -> None:
        if self.stalled:
            return
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
            else:
                with contextlib.suppress(OSError, RuntimeError):
                    self.writer.write_eof()

    def send(
        self,
        topic: str,
        event: str,
        payload: Any,
        ref: str | None = None,
        join_ref: str | None = None,
    ) -> None:
        if self.stalled or self.protocol.state is not State.OPEN:
            return
        if self.v2:
            message: Any = [join_ref, ref, topic, event, payload]
        else:
            message = {"topic": topic, "event": event, "payload": payload, "ref": ref}
        self.protocol.send_text(json.dumps(message, separators=(",", ":")).encode())
        self._flush()

    def reply(
        self, topic: str, ref: str | None, status: str, response: Any, join_ref: str | None = None
    ) -> None:
        self.send(topic, "phx_reply", {"status": status, "response": response}, ref, join_ref)

    # -- controls ------------------------------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        """Close the socket from the server side with this close code."""
        if self.protocol.state is State.OPEN:
            self.stalled = False
            self.protocol.send_close(code, reason)
            self._flush()
        loop = asyncio.get_running_loop()
        # Give the client a moment to answer the close frame, then drop the TCP connection.
        loop.call_later(0.5, self._abort)

    def _abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        self.closed.set()

    def stall(self) -> None:
        """Go silent: read nothing (so pings go unanswered) and send nothing, socket left open."""
        self.stalled = True
        with contextlib.suppress(Exception):
            self.writer.transport.pause_reading()  # type: ignore[attr-defined]

    def close_channels(self, reason: str) -> None:
        """A server-side channel error: system error, then phx_close (realtime-py drops the
        channel without telling the subscribe callback)."""
        for topic, channel in list(self.channels.items()):
            self.send(
                topic,
                "system",
                {
                    "channel": topic.removeprefix("realtime:"),
                    "extension": "postgres_changes",
                    "message": reason,
                    "status": "error",
                },
            )
            self.send(topic, "phx_close", {}, None, channel.join_ref)
            self.channels.pop(topic, None)

    # -- protocol ------------------------------------------------------------------------------

    async def run(self) -> None:
        self.protocol.receive_data(self.request.raw_head)
        events = self.protocol.events_received()
        handshake = events[0] if events else None
        response = self.protocol.accept(handshake)  # type: ignore[arg-type]
        self.protocol.send_response(response)
        self._flush()
        if response.status_code != 101:
            self._abort()
            return
        try:
            while self.protocol.state is not State.CLOSED:
                if self.stalled:
                    await self.closed.wait()
                    break
                try:
                    data = await self.reader.read(65536)
                except (ConnectionError, OSError):
                    break
                if not data:
                    self.protocol.receive_eof()
                    self._flush()
                    break
                self.protocol.receive_data(data)
                for event in self.protocol.events_received():
                    if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        await self._handle(bytes(event.data))
                self._flush()
                await self.writer.drain()
        finally:
            self._abort()

    async def _handle(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
            if isinstance(message, list):
                join_ref, ref, topic, event, payload = message
            else:
                join_ref = message.get("join_ref")
                ref, topic, event = message.get("ref"), message["topic"], message["event"]
                payload = message.get("payload") or {}
        except (ValueError, KeyError, TypeError):
            return
        if topic == "phoenix" and event == "heartbeat":
            self.heartbeats += 1
            self.reply("phoenix", ref, "ok", {})
        elif event == "phx_join":
            await self._join(topic, ref, join_ref or ref, payload)
        elif event == "phx_leave":
            channel = self.channels.pop(topic, None)
            self.reply(topic, ref, "ok", {}, join_ref)
            self.send(topic, "phx_close", {}, None, channel.join_ref if channel else join_ref)
        elif event == "access_token":
            token = payload.get("access_token")
            channel = self.channels.get(topic)
            if channel is not None and isinstance(token, str):
                try:
                    channel.claims = self.verify(token)
                except Exception:
                    self.close_channels("Invalid JWT Token")
        # Broadcast and presence are not part of this double: ignored, as for a closed feature.

    async def _join(
        self, topic: str, ref: str | None, join_ref: str | None, payload: dict[str, Any]
    ) -> None:
        token = payload.get("access_token")
        try:
            claims = self.verify(token) if isinstance(token, str) else self.apikey_claims
        except Exception as exc:
            self.reply(topic, ref, "error", {"reason": f"InvalidJWTToken: {exc}"}, join_ref)
            return
        config = payload.get("config") or {}
        bindings = [dict(b) for b in (config.get("postgres_changes") or []) if isinstance(b, dict)]
        echoed = [{**b, "id": binding_id(b)} for b in bindings]
        self.channels[topic] = Channel(topic, join_ref, claims, echoed)
        self.reply(topic, ref, "ok", {"postgres_changes": echoed}, join_ref)
        if not bindings:
            return
        ok = True
        for b in bindings:
            if not await self.published(str(b.get("schema", "public")), str(b.get("table", "*"))):
                ok = False
        name = topic.removeprefix("realtime:")
        if ok:
            message = {
                "channel": name,
                "extension": "postgres_changes",
                "message": "Subscribed to PostgreSQL",
                "status": "ok",
            }
        else:
            message = {
                "channel": name,
                "extension": "postgres_changes",
                "status": "error",
                "message": "Unable to subscribe to changes with given parameters. Please "
                "check Realtime is enabled for the given connect parameters: "
                f"[{', '.join(json.dumps(b) for b in bindings)}]",
            }
        self.send(topic, "system", message, None, join_ref)

    def deliver(self, channel: Channel, ids: list[int], data: dict[str, Any]) -> None:
        if self.channels.get(channel.topic) is channel:
            self.send(
                channel.topic,
                "postgres_changes",
                {"ids": ids, "data": data},
                None,
                channel.join_ref,
            )
