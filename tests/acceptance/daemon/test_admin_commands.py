"""`enqueue` and `status` as a person runs them, on the Postgres backend and on Supabase."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.acceptance.daemon.harness import REPO, Env, cutout_png
from tests.doubles.supabase import supabase_double


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SUPABASE_", "DATABASE_", "API4AI_", "BACKGROUND_"))
    }
    # Empty values beat a developer's .env (the environment wins over the file).
    unset = dict.fromkeys(("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "API4AI_API_KEY"), "")
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        cwd=REPO,
        env={**clean, **unset, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def photos(tmp_path: Path, n: int) -> list[str]:
    files = []
    for i in range(n):
        file = tmp_path / f"car {i}.png"
        file.write_bytes(cutout_png(seed=i))
        files.append(str(file))
    return files


def test_enqueue_then_status_on_postgres(env: Env, tmp_path: Path) -> None:
    settings = {"DATABASE_URL": env.dsn, "STORAGE_DIR": str(env.storage)}
    files = photos(tmp_path, 2)
    done = cli(
        "enqueue",
        *files,
        "--vehicle-id",
        "VIN 123",
        "--options",
        '{"padding_percent": 0.1}',
        env=settings,
    )
    assert done.returncode == 0, done.stderr
    ids = done.stdout.split()
    assert len(ids) == 2
    rows = env.jobs(ids)
    assert {r["vehicle_id"] for r in rows} == {"VIN 123"}
    assert all(r["options"] == {"padding_percent": 0.1} for r in rows)
    for row in rows:
        assert row["source_path"].startswith("VIN-123/")
        stored = env.storage / "vehicle-photos" / row["source_path"]
        assert stored.read_bytes() in {Path(f).read_bytes() for f in files}

    env.sql("update processing_jobs set status = 'cancelled' where id = %s", (ids[0],))
    status = cli("status", "--json", env=settings)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "queued": 1,
        "processing": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 1,
    }
    table = cli("status", env=settings)
    assert table.returncode == 0 and "oldest queued" in table.stdout


def test_enqueue_refuses_bad_options_and_missing_files_in_one_line(
    env: Env, tmp_path: Path
) -> None:
    settings = {"DATABASE_URL": env.dsn, "STORAGE_DIR": str(env.storage)}
    [file] = photos(tmp_path, 1)
    bad = cli("enqueue", file, "--options", '{"padding": 1}', env=settings)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: Unknown option 'padding'."
    missing = cli("enqueue", str(tmp_path / "nope.jpg"), env=settings)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "No such file" in missing.stderr
    assert env.jobs() == []


def test_nothing_configured_says_what_to_set() -> None:
    done = cli("status", env={"DATABASE_URL": "", "SUPABASE_URL": ""})
    assert done.returncode == 1
    assert done.stderr.startswith("error: Set DATABASE_URL")
    assert "Traceback" not in done.stderr


def test_enqueue_then_status_on_supabase(pg_dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("delete from processing_jobs")
    with supabase_double(pg_dsn, tmp_path) as sb:
        settings = {"SUPABASE_URL": sb.url, "SUPABASE_SERVICE_ROLE_KEY": sb.service_key}
        done = cli("enqueue", *photos(tmp_path, 3), "--vehicle-id", "lot-9", env=settings)
        assert done.returncode == 0, done.stderr
        ids = done.stdout.split()
        assert len(ids) == 3
        # enqueue opens the store and the queue only: no Realtime socket was ever asked for.
        assert sb.requests["realtime"] == 0 and sb.realtime_connects == 0
        status = cli("status", "--json", env=settings)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["queued"] == 3
        uploaded = sorted(p.name for p in (sb.storage_dir / "vehicle-photos" / "lot-9").iterdir())
    assert len(uploaded) == 3 and all(name.endswith(".png") for name in uploaded)


@pytest.mark.parametrize("command", ["run", "status"])
def test_a_wrong_database_url_is_one_sentence(command: str) -> None:
    done = cli(command, env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"})
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
