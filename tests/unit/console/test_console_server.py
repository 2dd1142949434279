"""`python -m daemon console`: what it serves, what it fills in, and what it never hands out."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from daemon.app.settings import Settings
from daemon.commands.console import CONSOLE_DIR, index_html, make_server
from daemon.commands.schema import schema_text

URL = "https://abcdefghijklmnop.supabase.co"
ANON = "anon-key-for-browsers"
SECRET = "service-role-secret-never-in-a-page"


def settings() -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        supabase_url=URL + "/",
        supabase_anon_key=ANON,
        supabase_service_role_key=SECRET,
    )


def import_map(html: str) -> dict[str, str]:
    match = re.search(r'<script type="importmap">(.*?)</script>', html, re.DOTALL)
    assert match, "index.html has no import map"
    return dict(json.loads(match.group(1))["imports"])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    server = make_server(settings(), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_config_js_has_the_url_and_the_anon_key_and_never_the_service_key(served: str) -> None:
    response = httpx.get(f"{served}/config.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert f'export const SUPABASE_URL = "{URL}";' in response.text
    assert f'export const SUPABASE_ANON_KEY = "{ANON}";' in response.text
    for path in ["/", "/config.js", "/js/client.js", "/js/main.js"]:
        assert SECRET not in httpx.get(f"{served}{path}").text


def test_the_page_and_its_modules_are_served_with_their_types(served: str) -> None:
    page = httpx.get(f"{served}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    for path, kind in [
        ("/console.css", "text/css"),
        ("/js/main.js", "text/javascript"),
        ("/options.schema.json", "application/json"),
    ]:
        response = httpx.get(f"{served}{path}")
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(kind), path
    assert httpx.get(f"{served}/nothing-here.js").status_code == 404
    # Nothing outside the folder, and no dot-files.
    assert httpx.get(f"{served}/../pyproject.toml").status_code == 404
    assert httpx.get(f"{served}/%2e%2e/cli.py").status_code == 404
    assert httpx.get(f"{served}/node_modules/.package-lock.json").status_code == 404


def test_extensionless_imports_in_node_modules_resolve_like_node(served: str) -> None:
    if not (CONSOLE_DIR / "node_modules").is_dir():
        pytest.fail("daemon/console/node_modules is missing: run bash deploy/setup-dev.sh")
    base = f"{served}/node_modules/@supabase/auth-js/dist/module"
    response = httpx.get(f"{base}/GoTrueClient")
    assert response.status_code == 301
    assert response.headers["location"].endswith("/dist/module/GoTrueClient.js")
    assert httpx.get(f"{base}/GoTrueClient.js").status_code == 200


def test_the_import_map_is_local_with_node_modules_and_the_cdn_without(tmp_path: Path) -> None:
    bare = tmp_path / "console"
    shutil.copytree(CONSOLE_DIR, bare, ignore=shutil.ignore_patterns("node_modules"))
    cdn = import_map(index_html(bare))
    assert all(url.startswith("https://") for url in cdn.values()), cdn
    (bare / "node_modules/@supabase/supabase-js").mkdir(parents=True)
    (bare / "node_modules/@supabase/supabase-js/package.json").write_text("{}")
    local = import_map(index_html(bare))
    assert local == json.loads((CONSOLE_DIR / "importmap.local.json").read_text())["imports"]
    assert set(cdn) <= set(local)


def test_the_cdn_copies_are_the_versions_package_json_pins() -> None:
    pins = json.loads((CONSOLE_DIR / "package.json").read_text())["dependencies"]
    html = (CONSOLE_DIR / "index.html").read_text()
    cdn = import_map(html)
    assert set(cdn) == set(pins)
    for name, version in pins.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned: {version}"
        assert f"/{name}@{version}/" in cdn[name], cdn[name]
    lock = json.loads((CONSOLE_DIR / "package-lock.json").read_text())
    for name, version in pins.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    # The lock names no registry: npm ci takes packages from whichever one is configured.
    assert "resolved" not in (CONSOLE_DIR / "package-lock.json").read_text()


def test_every_local_module_in_the_import_map_exists_after_npm_ci() -> None:
    if not (CONSOLE_DIR / "node_modules").is_dir():
        pytest.fail("daemon/console/node_modules is missing: run bash deploy/setup-dev.sh")
    local = json.loads((CONSOLE_DIR / "importmap.local.json").read_text())["imports"]
    for name, target in local.items():
        assert (CONSOLE_DIR / target).is_file(), f"{name}: {target}"


def test_the_page_validates_against_the_daemons_own_schema() -> None:
    committed = (CONSOLE_DIR / "options.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "run: python -m daemon schema --out daemon/console/options.schema.json"
    )


def test_the_command_needs_the_url_and_the_anon_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
    env.update(SUPABASE_URL=URL, SUPABASE_SERVICE_ROLE_KEY=SECRET)
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "console", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: Set SUPABASE_URL and SUPABASE_ANON_KEY (the project's public anon key) to serve"
        " the console."
    )
