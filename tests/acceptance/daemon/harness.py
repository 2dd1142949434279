"""Run the daemon as a real subprocess against a real Postgres and a storage folder."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from PIL import Image, ImageDraw
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

REPO = Path(__file__).resolve().parents[3]
SOURCE_BUCKET = "vehicle-photos"
OUTPUT_BUCKET = "vehicle-photos-processed"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cutout_png(width: int = 480, height: int = 320, *, seed: int = 0) -> bytes:
    """A small RGBA 'vehicle' on a transparent background, as a provider returns it."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    shade = 40 + (seed * 37) % 160
    draw.rounded_rectangle(
        (width * 0.15, height * 0.35, width * 0.85, height * 0.75),
        radius=20,
        fill=(shade, 30, 30, 255),
    )
    draw.rounded_rectangle(
        (width * 0.3, height * 0.2, width * 0.65, height * 0.4), radius=15, fill=(90, 120, 160, 230)
    )
    for cx in (0.3, 0.7):
        draw.ellipse(
            (width * cx - 30, height * 0.68, width * cx + 30, height * 0.68 + 60),
            fill=(15, 15, 15, 255),
        )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def studio_jpeg(width: int = 640, height: int = 427, *, seed: int = 0) -> bytes:
    """An opaque photo: the same kind of vehicle on a light studio backdrop."""
    cutout = Image.open(io.BytesIO(cutout_png(width, height, seed=seed)))
    backdrop = Image.new("RGB", (width, height), (228, 228, 230))
    backdrop.paste(cutout, (0, 0), cutout)
    buffer = io.BytesIO()
    backdrop.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class Env:
    """A database and a storage folder that daemons and the test share."""

    dsn: str
    storage: Path
    overrides: dict[str, str] = field(default_factory=dict)

    def put_source(self, data: bytes, name: str = "photo.png") -> str:
        path = f"test/{uuid.uuid4().hex[:12]}-{name}"
        file = self.storage / SOURCE_BUCKET / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
        return path

    def insert_job(
        self, source_path: str, options: dict[str, Any] | None = None, **cols: Any
    ) -> str:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            names = ["source_path", "options", *cols]
            values = [source_path, Jsonb(options or {}), *cols.values()]
            row = conn.execute(
                f"insert into processing_jobs ({', '.join(names)}) values"
                f" ({', '.join(['%s'] * len(names))}) returning id::text",
                values,
            ).fetchone()
            assert row is not None
            return str(row[0])

    def enqueue(
        self, data: bytes, name: str = "photo.png", options: dict[str, Any] | None = None
    ) -> str:
        return self.insert_job(self.put_source(data, name), options)

    def jobs(self, ids: list[str] | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row) as conn:
            if ids is None:
                return conn.execute(
                    "select * from processing_jobs order by created_at, id"
                ).fetchall()
            return conn.execute(
                "select * from processing_jobs where id = any(%s::uuid[]) order by created_at, id",
                (ids,),
            ).fetchall()

    def job(self, job_id: str) -> dict[str, Any]:
        return self.jobs([job_id])[0]

    def sql(self, statement: str, params: Any = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def wait_for(
        self, ids: list[str], statuses: set[str], *, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Wait until every job is in one of `statuses`; fail with the stragglers otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.jobs(ids)
            if all(row["status"] in statuses for row in rows):
                return rows
            if time.monotonic() > deadline:
                waiting = [
                    (str(r["id"])[:8], r["status"], r["stage"])
                    for r in rows
                    if r["status"] not in statuses
                ]
                raise AssertionError(
                    f"{len(waiting)} job(s) not {statuses} after {timeout} s: {waiting[:5]}"
                )
            time.sleep(0.1)


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Daemon:
    """`python -m daemon run` as a subprocess, with its log in a file."""

    def __init__(self, env: Env, log_dir: Path, **settings: str) -> None:
        self.health_port = free_port()
        self.signalled = False
        self.log_path = log_dir / f"daemon-{self.health_port}.log"
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SUPABASE_", "API4AI_", "DATABASE_", "BACKGROUND_"))
        }
        environ.update(
            # Empty values beat a developer's .env (the environment wins over the file).
            SUPABASE_URL="",
            SUPABASE_SERVICE_ROLE_KEY="",
            API4AI_API_KEY="",
            DATABASE_URL=env.dsn,
            STORAGE_DIR=str(env.storage),
            HEALTH_PORT=str(self.health_port),
            HEALTH_HOST="127.0.0.1",
            LEASE_SECONDS="5",
            POLL_INTERVAL_SECONDS="1",
            SHUTDOWN_GRACE_SECONDS="10",
            WORKER_CONCURRENCY="4",
            LOG_FORMAT="json",
            LOG_LEVEL="DEBUG",
            PYTHONUNBUFFERED="1",
        )
        environ.update(env.overrides)
        environ.update({k.upper(): str(v) for k, v in settings.items()})
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run"],
            cwd=REPO,
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.health_port}/health", timeout=5
            ) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, body = self.health()
                if status == 200:
                    return body
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"daemon not healthy after {timeout} s:\n{self.log()}")
            time.sleep(0.1)

    @property
    def worker_id(self) -> str:
        return str(self.wait_healthy()["worker"])

    def signal(self, signum: int) -> None:
        self.signalled = True
        self.proc.send_signal(signum)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            if not self.signalled:  # a second signal would mean "exit at once"
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]


@contextmanager
def running(env: Env, log_dir: Path, **settings: str) -> Iterator[Daemon]:
    daemon = Daemon(env, log_dir, **settings)
    try:
        daemon.wait_healthy()
        yield daemon
    finally:
        daemon.stop()


# The contract's stages, in the order a job goes through them.
STAGE_ORDER = [
    "claimed",
    "downloading",
    "removing_background",
    "cropping",
    "shadowing",
    "rendering",
    "uploading",
    "done",
]


def supabase_daemon(
    supabase_url: str,
    service_key: str,
    api4ai_url: str,
    api4ai_key: str,
    log_dir: Path,
    **settings: str,
) -> Daemon:
    """A daemon on the Supabase backend (DATABASE_URL empty) and API4.ai, with a watchdog quick
    enough for tests that close or stall the Realtime socket."""
    env = Env(dsn="", storage=log_dir / "unused")
    env.overrides.update(
        SUPABASE_URL=supabase_url,
        SUPABASE_SERVICE_ROLE_KEY=service_key,
        API4AI_URL=api4ai_url,
        API4AI_API_KEY=api4ai_key,
        REALTIME_PROBE_SECONDS="0.5",
        REALTIME_STALE_SECONDS="2",
    )
    return Daemon(env, log_dir, **settings)
