"""The double itself speaks the protocols the way the real services do (what the adapters and
the admin UI rely on): the gateway's key check, PostgREST as the token's role, Realtime's V1 and
V2 wire formats, and RLS on changes."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from daemon.adapters.supabase import SupabaseQueue
from tests.doubles.supabase import SupabaseDouble
from tests.doubles.supabase.realtime import binding_id
from tests.integration.supabase.conftest import Admin

pytestmark = pytest.mark.anyio

BINDINGS = [
    {"event": "INSERT", "schema": "public", "table": "processing_jobs"},
    {
        "event": "UPDATE",
        "schema": "public",
        "table": "processing_jobs",
        "filter": "status=eq.queued",
    },
]


def ws_url(sb: SupabaseDouble, key: str, vsn: str = "1.0.0") -> str:
    return f"{sb.url.replace('http', 'ws')}/realtime/v1/websocket?apikey={key}&vsn={vsn}"


async def receive(ws: ClientConnection) -> Any:
    with anyio.fail_after(5):
        return json.loads(await ws.recv())


async def join_v1(ws: ClientConnection, token: str, bindings: list[dict[str, Any]]) -> None:
    await ws.send(
        json.dumps(
            {
                "topic": "realtime:jobs",
                "event": "phx_join",
                "ref": "1",
                "join_ref": "1",
                "payload": {
                    "config": {
                        "broadcast": {"ack": False, "self": False},
                        "presence": {"key": "", "enabled": False},
                        "private": False,
                        "postgres_changes": bindings,
                    },
                    "access_token": token,
                },
            }
        )
    )


async def test_realtime_v1_join_system_change_heartbeat(sb: SupabaseDouble, admin: Admin) -> None:
    async with connect(ws_url(sb, sb.service_key)) as ws:
        await join_v1(ws, sb.service_key, BINDINGS)
        reply = await receive(ws)
        assert reply["event"] == "phx_reply" and reply["ref"] == "1"
        assert reply["payload"]["status"] == "ok"
        echoed = reply["payload"]["response"]["postgres_changes"]
        assert echoed == [{**b, "id": binding_id(b)} for b in BINDINGS]
        system = await receive(ws)
        assert system == {
            "topic": "realtime:jobs",
            "event": "system",
            "ref": None,
            "payload": {
                "channel": "jobs",
                "extension": "postgres_changes",
                "message": "Subscribed to PostgreSQL",
                "status": "ok",
            },
        }

        job = await admin.insert(source_path="lot/v1.jpg")
        change = await receive(ws)
        assert change["event"] == "postgres_changes" and change["ref"] is None
        assert change["payload"]["ids"] == [binding_id(BINDINGS[0])]
        data = change["payload"]["data"]
        assert data["type"] == "INSERT" and data["table"] == "processing_jobs"
        assert data["record"]["id"] == job["id"] and data["record"]["status"] == "queued"
        assert "old_record" not in data and data["errors"] is None
        assert {"name": "status", "type": "text"} in data["columns"]
        assert data["commit_timestamp"].endswith("Z")

        await ws.send(
            json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "7"})
        )
        assert await receive(ws) == {
            "topic": "phoenix",
            "event": "phx_reply",
            "ref": "7",
            "payload": {"status": "ok", "response": {}},
        }


async def test_realtime_v2_arrays(sb: SupabaseDouble, admin: Admin) -> None:
    async with connect(ws_url(sb, sb.anon_key, "2.0.0")) as ws:
        payload = {"config": {"postgres_changes": BINDINGS[:1]}, "access_token": sb.admin_token}
        await ws.send(json.dumps(["3", "3", "realtime:ui", "phx_join", payload]))
        join_ref, ref, topic, event, body = await receive(ws)
        assert (join_ref, ref, topic, event, body["status"]) == (
            "3",
            "3",
            "realtime:ui",
            "phx_reply",
            "ok",
        )
        assert (await receive(ws))[3] == "system"
        await admin.insert(source_path="lot/v2.jpg")
        message = await receive(ws)
        assert message[:4] == ["3", None, "realtime:ui", "postgres_changes"]
        assert message[4]["data"]["record"]["source_path"] == "lot/v2.jpg"


async def test_changes_follow_rls(sb: SupabaseDouble, admin: Admin) -> None:
    # A signed-in user who is not an admin joins fine but sees no job: RLS hides them.
    async with connect(ws_url(sb, sb.anon_key)) as user, connect(ws_url(sb, sb.anon_key)) as boss:
        await join_v1(user, sb.user_token(), BINDINGS[:1])
        await join_v1(boss, sb.admin_token, BINDINGS[:1])
        for ws in (user, boss):
            await receive(ws)
            await receive(ws)
        await admin.insert(source_path="lot/rls.jpg")
        assert (await receive(boss))["payload"]["data"]["record"]["source_path"] == "lot/rls.jpg"
        with anyio.move_on_after(0.5):
            message = await user.recv()
            pytest.fail(f"a non-admin received {message!r}")


async def test_realtime_refuses_a_wrong_key_at_the_upgrade(sb: SupabaseDouble) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(ws_url(sb, sb.wrong_service_key)):
            pass
    assert caught.value.response.status_code == 401
    assert json.loads(caught.value.response.body) == {"error": "Invalid API key"}


async def test_table_not_in_the_publication_is_a_system_error(sb: SupabaseDouble) -> None:
    async with connect(ws_url(sb, sb.service_key)) as ws:
        await join_v1(ws, sb.service_key, [{"event": "*", "schema": "public", "table": "other"}])
        assert (await receive(ws))["payload"]["status"] == "ok"
        system = await receive(ws)
        assert system["payload"]["status"] == "error"
        assert system["payload"]["message"].startswith("Unable to subscribe to changes")


async def test_postgrest_roles(sb: SupabaseDouble, admin: Admin) -> None:
    job = await admin.insert(source_path="lot/roles.jpg")
    assert job["created_by"] == sb.admin_user_id
    async with httpx.AsyncClient(base_url=f"{sb.url}/rest/v1") as http:
        anon = {"apikey": sb.anon_key}
        # The migrations revoke the table from anon: permission denied, 401 for anon.
        listed = await http.get("/processing_jobs", headers=anon)
        assert listed.status_code == 401 and listed.json()["code"] == "42501"
        refused = await http.post(
            "/rpc/claim_processing_jobs", json={"worker_id": "w"}, headers=anon
        )
        assert refused.status_code == 401 and refused.json()["code"] == "42501"
        missing = await http.post("/rpc/claim_processing_jobs", json={"worker_id": "w"})
        assert missing.status_code == 401
        assert missing.json()["message"] == "No API key found in request"
        forged = await http.post(
            "/rpc/claim_processing_jobs",
            json={"worker_id": "w"},
            headers={"apikey": sb.anon_key, "Authorization": f"Bearer {sb.wrong_service_key}"},
        )
        assert forged.status_code == 401 and forged.json()["code"] == "PGRST301"
        unknown = await http.post(
            "/rpc/claim_processing_jobs", json={"nope": 1}, headers={"apikey": sb.service_key}
        )
        assert unknown.status_code == 404 and unknown.json()["code"] == "PGRST202"


async def test_storage_policies_and_public_bucket(sb: SupabaseDouble) -> None:
    async with httpx.AsyncClient(base_url=f"{sb.url}/storage/v1") as http:
        admin = {"apikey": sb.anon_key, "Authorization": f"Bearer {sb.admin_token}"}
        user = {"apikey": sb.anon_key, "Authorization": f"Bearer {sb.user_token()}"}
        # supabase-js sends a browser File in a part whose field name is empty.
        files = {"": ("car.jpg", b"jpeg-bytes", "image/jpeg")}
        ok = await http.post("/object/vehicle-photos/lot/car.jpg", files=files, headers=admin)
        assert ok.status_code == 200 and ok.json()["Key"] == "vehicle-photos/lot/car.jpg"
        again = await http.post("/object/vehicle-photos/lot/car.jpg", files=files, headers=admin)
        assert again.status_code == 409 and again.json()["error"] == "Duplicate"
        denied = await http.post("/object/vehicle-photos/lot/x.jpg", files=files, headers=user)
        assert denied.status_code == 403 and denied.json()["statusCode"] == "403"
        private = await http.get("/object/public/vehicle-photos/lot/car.jpg")
        assert private.status_code == 404
        assert (await http.get("/object/vehicle-photos/lot/car.jpg", headers=admin)).content == (
            b"jpeg-bytes"
        )


async def test_postgrest_reads_as_supabase_py_sends_them(sb: SupabaseDouble, admin: Admin) -> None:
    # `status` reads the queue through supabase-py: select lists, order, limit, in, exact counts.
    from daemon.adapters.admin import SupabaseAdmin

    first = await admin.insert(source_path="lot/1.jpg")
    await admin.insert(source_path="lot/2.jpg")
    await admin.update(first["id"], status="cancelled")
    summary = await SupabaseAdmin(sb.url, sb.service_key).summary(job_ids=[first["id"]])

    assert summary.counts["queued"] == 1 and summary.counts["cancelled"] == 1
    assert summary.counts["processing"] == 0
    assert summary.oldest_queued_seconds is not None
    assert [job["source_path"] for job in summary.jobs] == ["lot/1.jpg"]
    assert set(summary.jobs[0]) == {
        "id",
        "source_path",
        "status",
        "stage",
        "progress",
        "attempts",
        "error",
        "result",
    }


async def test_ui_follows_one_job_with_stage_and_progress(
    sb: SupabaseDouble, admin: Admin, queue: SupabaseQueue
) -> None:
    job = await admin.insert(source_path="lot/follow.jpg")
    binding = {
        "event": "UPDATE",
        "schema": "public",
        "table": "processing_jobs",
        "filter": f"id=eq.{job['id']}",
    }
    async with connect(ws_url(sb, sb.anon_key, "2.0.0")) as ws:
        payload = {"config": {"postgres_changes": [binding]}, "access_token": sb.admin_token}
        await ws.send(json.dumps(["1", "1", "realtime:job", "phx_join", payload]))
        await receive(ws)
        await receive(ws)
        await admin.insert(source_path="lot/other.jpg")  # another row: not this binding
        [claimed] = [c for c in await queue.claim("w", 5, 30) if str(c.id) == job["id"]]
        await queue.heartbeat(claimed.id, claimed.lease_token, 30, stage="cropping", progress=60)
        await queue.complete(claimed.id, claimed.lease_token, {"variants": {}})
        seen = [(await receive(ws))[4]["data"]["record"] for _ in range(3)]
    assert [(r["status"], r["stage"], r["progress"]) for r in seen] == [
        ("processing", "claimed", 0),
        ("processing", "cropping", 60),
        ("succeeded", "done", 100),
    ]
