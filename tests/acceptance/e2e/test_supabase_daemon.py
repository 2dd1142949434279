"""The daemon as a real process against the Supabase double and the API4.ai double: what
production runs, end to end. The admin UI's side is plain HTTP and a Realtime socket with the
admin's token, as supabase-js would do it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.acceptance.daemon.harness import (
    STAGE_ORDER,
    Daemon,
    studio_jpeg,
    supabase_daemon,
    wait_until,
)
from tests.doubles.api4ai import Api4aiDouble, Canned
from tests.doubles.supabase import SupabaseDouble

API_KEY = "e2e-api4ai-key"


class AdminUI:
    """What the admin UI does with supabase-js, as an admin user, over HTTP."""

    def __init__(self, sb: SupabaseDouble) -> None:
        self.sb = sb
        self.http = httpx.Client(
            base_url=sb.url,
            headers={"apikey": sb.anon_key, "Authorization": f"Bearer {sb.admin_token}"},
            timeout=10,
        )

    def upload(self, data: bytes, name: str = "photo.jpg") -> str:
        path = f"lot-7/{uuid.uuid4().hex[:10]}-{name}"
        response = self.http.post(
            f"/storage/v1/object/vehicle-photos/{path}",
            files={"file": (name, data, "image/jpeg")},
        )
        assert response.status_code == 200, response.text
        return path

    def insert(self, source_path: str, **row: Any) -> str:
        response = self.http.post(
            "/rest/v1/processing_jobs",
            json={"source_path": source_path, "vehicle_id": "lot-7", **row},
            headers={"Prefer": "return=representation"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()[0]["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get("/rest/v1/processing_jobs", params={"id": f"eq.{job_id}"})
        assert response.status_code == 200, response.text
        return dict(response.json()[0])

    def wait(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            row = self.job(job_id)
            if row["status"] in ("succeeded", "failed", "cancelled"):
                return row
            assert time.monotonic() < deadline, f"job still {row['status']}/{row['stage']}"
            time.sleep(0.1)


class RowWatcher(threading.Thread):
    """A Realtime subscription as the admin, filtered on a value known before the insert."""

    def __init__(self, sb: SupabaseDouble, column: str, value: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{sb.url.replace('http', 'ws')}/realtime/v1/websocket?apikey={sb.anon_key}"
        self.token = sb.admin_token
        self.filter = f"{column}=eq.{value}"
        self.records: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        with connect(self.url + "&vsn=1.0.0") as ws:
            binding = {
                "event": "*",
                "schema": "public",
                "table": "processing_jobs",
                "filter": self.filter,
            }
            ws.send(
                json.dumps(
                    {
                        "topic": "realtime:ui",
                        "event": "phx_join",
                        "ref": "1",
                        "join_ref": "1",
                        "payload": {
                            "config": {"postgres_changes": [binding]},
                            "access_token": self.token,
                        },
                    }
                )
            )
            while not self.stop.is_set():
                try:
                    message = json.loads(ws.recv(timeout=0.2))
                except TimeoutError:
                    continue
                if message["event"] == "system" and message["payload"].get("status") == "ok":
                    self.ready.set()
                elif message["event"] == "postgres_changes":
                    self.records.append(message["payload"]["data"]["record"])


@pytest.fixture
def api4ai() -> Iterator[Api4aiDouble]:
    with Api4aiDouble(api_key=API_KEY) as double:
        yield double


@pytest.fixture
def ui(sb: SupabaseDouble) -> Iterator[AdminUI]:
    admin = AdminUI(sb)
    yield admin
    admin.http.close()


def start_daemon(
    sb: SupabaseDouble, api4ai: Api4aiDouble, tmp_path: Path, **settings: str
) -> Daemon:
    return supabase_daemon(sb.url, sb.service_key, api4ai.url, API_KEY, tmp_path, **settings)


def test_jobs_inserted_as_admin_flow_to_succeeded_with_live_stages(
    sb: SupabaseDouble, api4ai: Api4aiDouble, ui: AdminUI, tmp_path: Path
) -> None:
    paths = [ui.upload(studio_jpeg(seed=i), f"car-{i}.jpg") for i in range(3)]
    watcher = RowWatcher(sb, "source_path", paths[0])
    watcher.start()
    assert watcher.ready.wait(10), "the UI's subscription is ready"
    daemon = start_daemon(sb, api4ai, tmp_path)
    try:
        daemon.wait_healthy()
        ids = [ui.insert(path) for path in paths]
        rows = [ui.wait(job_id) for job_id in ids]
        wait_until(lambda: bool(watcher.records) and watcher.records[-1]["status"] == "succeeded")
    finally:
        watcher.stop.set()
        assert daemon.stop() == 0
    assert [r["status"] for r in rows] == ["succeeded"] * 3, [r["error"] for r in rows]
    for row in rows:
        meta = row["result"]["metadata"]
        assert meta["provider"] == "api4ai" and meta["background_removed"] is True
        for variant in row["result"]["variants"].values():
            assert variant["url"].startswith(f"{sb.url}/storage/v1/object/public/")
            image = httpx.get(variant["url"])  # public bucket: no key needed
            assert image.status_code == 200 and image.content[:4] == b"RIFF"
            assert len(image.content) == variant["bytes"]
    # What the UI saw of the first job: stages in order, progress never going back, then done.
    seen = [(r["status"], r["stage"], r["progress"]) for r in watcher.records]
    stages = [stage for _, stage, _ in seen if stage is not None]
    assert stages[-1] == "done" and seen[-1] == ("succeeded", "done", 100)
    assert "downloading" in stages and "uploading" in stages
    order = [STAGE_ORDER.index(stage) for stage in stages]
    assert order == sorted(order), stages
    progress = [p for _, _, p in seen]
    assert progress == sorted(progress), progress


@pytest.mark.parametrize("how", ["close-1000", "close-1011", "stall"])
def test_realtime_loss_is_survived_and_the_subscription_comes_back(
    how: str, sb: SupabaseDouble, api4ai: Api4aiDouble, ui: AdminUI, tmp_path: Path
) -> None:
    # A poll far longer than the test: a job picked up quickly was picked up by a hint.
    daemon = start_daemon(sb, api4ai, tmp_path, poll_interval_seconds="120")
    try:
        wait_until(lambda: daemon.wait_healthy()["wakeups"] == "connected", timeout=20)
        first = ui.insert(ui.upload(studio_jpeg(seed=1)))
        assert ui.wait(first, timeout=30)["status"] == "succeeded"
        connects = sb.realtime_connects
        if how == "close-1000":
            sb.close_realtime(1000)
        elif how == "close-1011":
            sb.close_realtime(1011)
        else:
            sb.stall_realtime()
        wait_until(lambda: sb.realtime_connects > connects, timeout=30, what="a new socket")
        wait_until(lambda: daemon.wait_healthy()["wakeups"] == "connected", timeout=30)
        second = ui.insert(ui.upload(studio_jpeg(seed=2)))
        row = ui.wait(second, timeout=30)
    finally:
        assert daemon.stop() == 0
    assert row["status"] == "succeeded" and row["attempts"] == 1


def test_api4ai_rate_limits_errors_and_timeouts_are_retried_within_the_job(
    sb: SupabaseDouble, api4ai: Api4aiDouble, ui: AdminUI, tmp_path: Path
) -> None:
    api4ai.enqueue(
        Canned.rate_limited(retry_after="1"),
        Canned.server_error(500),
        Canned.server_error(500),
        Canned.server_error(503),
        Canned.hang(5),
    )
    daemon = start_daemon(
        sb,
        api4ai,
        tmp_path,
        api4ai_timeout_seconds="1",
        api4ai_retry_budget_seconds="30",
        lease_seconds="10",
    )
    try:
        daemon.wait_healthy()
        row = ui.wait(ui.insert(ui.upload(studio_jpeg())), timeout=60)
        metrics = daemon.metrics()
    finally:
        daemon.stop()
    assert row["status"] == "succeeded", row["error"]
    assert row["attempts"] == 1  # all retried inside the one attempt, within its budget
    assert api4ai.calls == 6
    assert 'api4ai_calls_total{outcome="rate_limited"} 1.0' in metrics
    assert 'api4ai_calls_total{outcome="timeout"} 1.0' in metrics
    assert 'api4ai_calls_total{outcome="ok"} 1.0' in metrics


def test_a_storage_502_with_an_html_body_is_retried_later(
    sb: SupabaseDouble, api4ai: Api4aiDouble, ui: AdminUI, tmp_path: Path
) -> None:
    path = ui.upload(studio_jpeg())
    sb.fail_storage_next(1, status=502, html=True)
    daemon = start_daemon(sb, api4ai, tmp_path)
    try:
        daemon.wait_healthy()
        job = ui.insert(path)
        wait_until(lambda: ui.job(job)["attempts"] >= 1 and ui.job(job)["error"] is not None)
        retried = ui.job(job)
        final = ui.wait(job, timeout=60)
    finally:
        daemon.stop()
    assert retried["error"]["code"] == "storage_failed" and retried["error"]["retryable"] is True
    assert "<html" not in retried["error"]["message"].lower()
    assert final["status"] == "succeeded" and final["attempts"] == 2


def test_a_preset_with_a_studio_and_logo_from_the_assets_bucket(
    sb: SupabaseDouble, api4ai: Api4aiDouble, ui: AdminUI, tmp_path: Path
) -> None:
    """The preset is read through PostgREST, the studio and logo through Storage."""
    import io

    from bench.views import render_logo, render_studio

    service = httpx.Client(
        base_url=sb.url,
        headers={"apikey": sb.service_key, "Authorization": f"Bearer {sb.service_key}"},
        timeout=10,
    )
    for path, image in (
        ("studio/showroom.png", render_studio(1200, 800, floor=0.8)),
        ("logos/dealer.png", render_logo(300)),
    ):
        data = io.BytesIO()
        image.save(data, format="PNG")
        answer = service.post(
            f"/storage/v1/object/processing-assets/{path}",
            files={"file": (path, data.getvalue(), "image/png")},
        )
        assert answer.status_code == 200, answer.text
    service.close()
    preset = {
        "backdrop": {"path": "studio/showroom.png", "floor": 0.8},
        "watermark": {"path": "logos/dealer.png"},
    }
    created = ui.http.post(
        "/rest/v1/processing_presets", json={"name": "showroom", "options": preset}
    )
    assert created.status_code == 201, created.text
    good = ui.insert(ui.upload(studio_jpeg(), "car.jpg"), options={"preset": "showroom"})
    unknown = ui.insert(ui.upload(studio_jpeg(seed=1), "car2.jpg"), options={"preset": "nosuch"})
    daemon = start_daemon(sb, api4ai, tmp_path)
    try:
        daemon.wait_healthy()
        row, failed = ui.wait(good), ui.wait(unknown)
    finally:
        assert daemon.stop() == 0
    assert row["status"] == "succeeded", row["error"]
    meta = row["result"]["metadata"]
    assert meta["preset"] == "showroom"
    assert meta["options"]["watermark"]["path"] == "logos/dealer.png"
    processed = row["result"]["variants"]["processed"]
    assert (processed["width"], processed["height"]) == (1200, 800)  # the studio's canvas
    assert failed["status"] == "failed" and failed["error"]["code"] == "invalid_options"
    assert "nosuch" in failed["error"]["message"] and failed["attempts"] == 1
