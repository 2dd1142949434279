"""The deployment files agree with the daemon: ports, signals, timeouts, settings, health check."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from daemon.app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
FLY = ROOT / "fly.toml"


def fly() -> dict[str, Any]:
    return tomllib.loads(FLY.read_text(encoding="utf-8"))


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def default(name: str) -> Any:
    return Settings.model_fields[name].default


def test_fly_gives_the_shutdown_grace_time_to_finish() -> None:
    config = fly()
    grace = float(config["env"].get("SHUTDOWN_GRACE_SECONDS", default("shutdown_grace_seconds")))
    assert config["kill_signal"] == "SIGTERM"
    assert config["kill_timeout"] > grace


def test_fly_checks_health_on_the_health_port_without_a_public_service() -> None:
    config = fly()
    port = int(config["env"].get("HEALTH_PORT", default("health_port")))
    assert "http_service" not in config and "services" not in config
    assert config["checks"]["health"]["type"] == "http"
    assert config["checks"]["health"]["path"] == "/health"
    assert config["checks"]["health"]["port"] == port
    assert config["metrics"] == {"port": port, "path": "/metrics"}
    assert list(config["processes"]) == ["worker"]
    assert config["processes"]["worker"] == "python -m daemon run"


def test_fly_env_names_only_real_settings() -> None:
    known = {name.upper() for name in Settings.model_fields}
    assert sorted(set(fly()["env"]) - known) == []
    # Values must pass validation as well.
    Settings(_env_file=None, **{k.lower(): v for k, v in fly()["env"].items()})  # type: ignore[call-arg]


def test_dockerfile_final_stage_is_slim_non_root_and_runs_the_daemon() -> None:
    stage = final_stage()
    keywords = [keyword for keyword, _ in stage]
    text = " ".join(rest for _, rest in stage)
    assert stage[0][1].split()[0] == "${PYTHON_IMAGE}"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in " ".join(" ".join(s) for s in instructions())
    user = dict(stage)["USER"]
    assert user.split(":")[0] not in ("0", "root")
    # No compilers or package manager runs in the final image; only the venv is copied in.
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip install", text)
    assert "COPY --from=build /opt/venv /opt/venv" in [
        f"COPY {rest}" for k, rest in stage if k == "COPY"
    ]
    # The migrations come inside the package, with the venv: no copy of a checkout's folder.
    assert not [rest for k, rest in stage if k == "COPY" and "migrations" in rest]
    assert "MIGRATIONS_DIR" not in text
    assert ("COPY", "daemon ./daemon") in instructions()
    assert (ROOT / "daemon" / "sql" / "migrations").is_dir()
    packaged = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "sql/migrations/*.sql" in packaged["tool"]["setuptools"]["package-data"]["daemon"]
    assert json.loads(dict(stage)["CMD"]) == ["python", "-m", "daemon", "run"]
    assert dict(stage)["EXPOSE"] == str(default("health_port"))
    assert keywords.index("USER") < keywords.index("CMD")


def test_dockerfile_env_names_are_settings_or_runtime() -> None:
    runtime = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PATH", "MIGRATIONS_DIR"}
    names = set()
    for keyword, rest in final_stage():
        if keyword == "ENV":
            names.update(re.findall(r"([A-Z_][A-Z0-9_]*)=", rest))
    known = {name.upper() for name in Settings.model_fields} | runtime
    assert names and sorted(names - known) == []


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = b'{"status": "healthy"}' if self.status == 200 else b'{"status": "unhealthy"}'
        self.send_response(self.status if self.path == "/health" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_healthcheck_command_follows_the_health_status(
    health_server: ThreadingHTTPServer, status: int, healthy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthcheck = dict(final_stage())["HEALTHCHECK"]
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    monkeypatch.setattr(_Health, "status", status)
    port = health_server.server_address[1]
    result = subprocess.run(
        [sys.executable, *command[1:]],
        env={"HEALTH_PORT": str(port), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
    )
    assert (result.returncode == 0) is healthy, shlex.join(command)
