"""`python -m tests.doubles.supabase` serves on its own and says where, for manual runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx


def test_standalone_double_serves_until_sigterm(pg_dsn: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.doubles.supabase",
            "--dsn",
            pg_dsn,
            "--storage-dir",
            str(tmp_path / "storage"),
            "--user",
            "manager@dealer.example:pass:word:admin",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        response = httpx.post(
            f"{info['url']}/rest/v1/rpc/heartbeat_processing_job",
            json={
                "job_id": "00000000-0000-0000-0000-000000000000",
                "lease_token": "00000000-0000-0000-0000-000000000000",
            },
            headers={"apikey": info["service_key"]},
        )
        assert response.status_code == 200 and response.json() is False
        # The --user can sign in, as the console does, and is an admin.
        session = httpx.post(
            f"{info['url']}/auth/v1/token?grant_type=password",
            json={"email": "manager@dealer.example", "password": "pass:word"},
            headers={"apikey": info["anon_key"]},
        ).json()
        assert session["user"]["app_metadata"]["role"] == "admin"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
