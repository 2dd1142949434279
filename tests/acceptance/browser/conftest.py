"""The console in a real browser: Debian's Chromium driven by Playwright, against the Supabase
double (Auth, PostgREST, Storage, Realtime on the session's Postgres), the API4.ai double and
the daemon as a real process, with the page served by `python -m daemon console`.

One stack per module (starting the daemon and the browser costs seconds); each test works on
its own vehicle. Screenshots of each step go to tests/acceptance/browser/screenshots/ (ignored by
git).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect, sync_playwright

from daemon.commands.console import local_modules_installed
from tests.acceptance.daemon.harness import Daemon, supabase_daemon
from tests.doubles.api4ai import Api4aiDouble
from tests.doubles.supabase import SupabaseDouble

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).parent / "screenshots"
API_KEY = "browser-api4ai-key"
ADMIN = ("manager@dealer.example", "correct horse battery")
SALES = ("sales@dealer.example", "staple battery horse")

expect.set_options(timeout=20_000)


@dataclass
class Stack:
    sb: SupabaseDouble
    api4ai: Api4aiDouble
    daemon: Daemon
    console_url: str
    dsn: str

    def sql(self, statement: str, params: Any = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            if cur.description is None:
                return []
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def jobs(self, vehicle_id: str) -> list[dict[str, Any]]:
        return self.sql(
            "select * from processing_jobs where vehicle_id = %s order by created_at",
            (vehicle_id,),
        )


# Module scope, not session: Playwright's sync API keeps its event loop running in this thread
# while it is open, and asyncio tests elsewhere cannot start theirs until it is closed.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install it (Debian: apt-get install -y chromium;"
            " .ci/run does this as root) or point CHROMIUM at one.",
            pytrace=False,
        )
    if not local_modules_installed():
        pytest.fail(
            "daemon/console/node_modules is missing: run bash deploy/setup-dev.sh (it runs npm ci"
            " there when node and npm exist).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def start_console(sb: SupabaseDouble, workdir: Path) -> tuple[subprocess.Popen[str], str]:
    """`python -m daemon console --port 0` as a process, the service key in its environment
    too (the page must never get it)."""
    env = {
        **os.environ,
        "SUPABASE_URL": sb.url,
        "SUPABASE_ANON_KEY": sb.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": sb.service_key,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "console", "--port", "0"],
        cwd=workdir,  # no .env of the developer's
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not match:
        proc.kill()
        raise AssertionError(f"the console did not start: {line}{proc.stdout.read()}")
    return proc, match.group(0)


@pytest.fixture(scope="module")
def stack(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("browser")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("delete from public.processing_jobs")
        conn.execute("delete from public.processing_presets")
    with (
        SupabaseDouble(pg_dsn, tmp / "supabase-storage") as sb,
        Api4aiDouble(api_key=API_KEY) as api4ai,
    ):
        sb.add_user(*ADMIN, admin=True)
        sb.add_user(*SALES)
        daemon = supabase_daemon(sb.url, sb.service_key, api4ai.url, API_KEY, tmp)
        console, url = start_console(sb, tmp)
        try:
            daemon.wait_healthy()
            yield Stack(sb, api4ai, daemon, url, pg_dsn)
        finally:
            console.terminate()
            console.wait(10)
            assert daemon.stop() == 0, daemon.log()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser profile per test; an uncaught error in the page fails the test."""
    viewport = getattr(request, "param", {"width": 1280, "height": 900})
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The page's console, printed when a test fails (pytest shows captured output then).
    page.on("console", lambda message: print(f"console.{message.type}: {message.text}"))
    page.on("requestfailed", lambda r: print(f"request failed: {r.method} {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and print(f"HTTP {r.status}: {r.url}"))
    page.on("websocket", _trace_websocket)
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors


def _trace_websocket(ws: WebSocket) -> None:
    """Realtime's frames, printed when a test fails (timestamps show who waited for whom)."""

    def log(direction: str, payload: str | bytes) -> None:
        text = payload if isinstance(payload, str) else repr(payload)
        print(f"{time.monotonic():.3f} ws {direction} {text[:300]}")

    print(f"{time.monotonic():.3f} ws open {ws.url.split('?')[0]}")
    ws.on("framesent", lambda payload: log(">", payload))
    ws.on("framereceived", lambda payload: log("<", payload))
    ws.on("close", lambda _ws: print(f"{time.monotonic():.3f} ws closed"))


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot of this step."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, stack: Stack, who: tuple[str, str] = ADMIN) -> None:
    page.goto(stack.console_url)
    page.get_by_label("Email").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()


def open_vehicle(page: Page, vehicle_id: str) -> None:
    expect(page.get_by_role("heading", name="Queue")).to_be_visible()
    page.get_by_label("Vehicle ID (VIN or stock number)").fill(vehicle_id)
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#live")).to_have_attribute("data-state", "SUBSCRIBED")
