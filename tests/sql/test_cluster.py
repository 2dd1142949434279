"""The throwaway cluster: where it finds PostgreSQL, and a restart that keeps data and port."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from daemon.localdb.cluster import LocalPostgres, PostgresNotInstalled, find_pg_bin


def test_pg_bin_without_a_server_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_BIN", str(tmp_path))
    with pytest.raises(PostgresNotInstalled, match="apt-get install postgresql"):
        find_pg_bin()


def test_pg_bin_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    found = find_pg_bin()
    monkeypatch.setenv("PG_BIN", str(found))
    assert find_pg_bin() == found
    assert (found / "initdb").is_file() and (found / "pg_ctl").is_file()


def test_the_session_cluster_listens_on_loopback(pg_cluster: LocalPostgres) -> None:
    assert pg_cluster.dsn("x") == f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/x"
    with psycopg.connect(pg_cluster.dsn()) as conn:
        row = conn.execute("select current_setting('listen_addresses')").fetchone()
    assert row == ("127.0.0.1",)


def test_restart_keeps_data_and_port_and_cleanup_removes_everything() -> None:
    with LocalPostgres() as pg:
        port, root = pg.port, pg.root
        dsn = pg.create_database("kept")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create table t as select 42 as answer")
        pg.restart()
        assert pg.port == port
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select answer from t").fetchone() == (42,)
        pg.stop()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=2)
        pg.start()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    assert not root.exists()


def test_a_cluster_left_by_a_dead_process_is_reaped() -> None:
    orphan = LocalPostgres()
    orphan.start()
    try:
        dead = subprocess.Popen(["true"])
        dead.wait()
        (orphan.root / "owner.pid").write_text(str(dead.pid))
        with LocalPostgres() as fresh:
            assert fresh.port != orphan.port
            assert not orphan.root.exists()
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(orphan.dsn(), connect_timeout=2)
    finally:
        orphan.cleanup()
