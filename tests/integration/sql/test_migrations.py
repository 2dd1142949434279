"""The migrations and the migrate command: in order, recorded, harmless the second time."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import psycopg
import pytest

from daemon.cli import main
from daemon.localdb.shim import apply_shim
from daemon.sql import runner as migrate
from daemon.sql.runner import (
    MigrationError,
    MissingSupabaseError,
    applied_migrations,
    apply_migrations,
    migration_files,
)

# Everything the migrations define that a second run could disturb.
FINGERPRINT = """
select 'column' as kind, table_schema || '.' || table_name || '.' || column_name || ' ' ||
       data_type || ' ' || coalesce(column_default, '') as item
  from information_schema.columns where table_schema in ('public', 'storage')
union all select 'constraint', conrelid::regclass || ' ' || conname || ' ' ||
       pg_get_constraintdef(oid) from pg_constraint where connamespace = 'public'::regnamespace
union all select 'index', indexdef from pg_indexes where schemaname = 'public'
union all select 'trigger', tgrelid::regclass || ' ' || pg_get_triggerdef(oid)
  from pg_trigger where not tgisinternal
union all select 'policy', schemaname || '.' || tablename || ' ' || policyname || ' ' ||
       cmd || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '') from pg_policies
union all select 'function', p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) ||
       ' ' || coalesce(array_to_string(p.proacl, ','), '')
  from pg_proc p where pronamespace = 'public'::regnamespace
union all select 'table', relname || ' ' || coalesce(array_to_string(relacl, ','), '') ||
       ' ' || coalesce(array_to_string(reloptions, ','), '') || ' ' || relrowsecurity
  from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'
union all select 'column_acl', attrelid::regclass || '.' || attname || ' ' ||
       array_to_string(attacl, ',') from pg_attribute where attacl is not null
union all select 'publication', pubname || ' ' || schemaname || '.' || tablename
  from pg_publication_tables
union all select 'bucket', id || ' ' || public from storage.buckets
order by 1, 2
"""


def _fingerprint(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(FINGERPRINT).fetchall()


def _names() -> list[str]:
    return [p.name for p in migration_files()]


def test_the_files_are_named_as_the_supabase_cli_names_them() -> None:
    names = _names()
    assert names == sorted(names) and len(names) >= 4
    assert all(len(n.split("_", 1)[0]) == 14 for n in names)


def test_a_plain_postgres_is_told_how_to_add_the_shim(pg_empty_dsn: str) -> None:
    with pytest.raises(MissingSupabaseError) as caught:
        apply_migrations(pg_empty_dsn)
    message = str(caught.value)
    assert "schema auth" in message and "schema storage" in message  # roles are per cluster
    assert "python -m daemon migrate --with-local-shim" in message
    assert applied_migrations(pg_empty_dsn) == []


def test_migrations_apply_once_and_record_what_they_applied(pg_empty_dsn: str) -> None:
    apply_shim(pg_empty_dsn)
    apply_shim(pg_empty_dsn)  # idempotent
    assert apply_migrations(pg_empty_dsn) == _names()
    assert applied_migrations(pg_empty_dsn) == _names()
    before = _fingerprint(pg_empty_dsn)
    assert apply_migrations(pg_empty_dsn) == []
    assert _fingerprint(pg_empty_dsn) == before


def test_every_migration_applied_twice_by_hand_is_harmless(pg_empty_dsn: str) -> None:
    """As `supabase db push` or psql would, after the runner already did."""
    apply_shim(pg_empty_dsn)
    apply_migrations(pg_empty_dsn)
    before = _fingerprint(pg_empty_dsn)
    with psycopg.connect(pg_empty_dsn, autocommit=True) as conn:
        conn.execute("insert into processing_jobs (source_path) values ('kept.jpg')")
        for _ in range(2):
            for path in migration_files():
                conn.execute(path.read_text(encoding="utf-8").encode())
        assert conn.execute("select count(*) from processing_jobs").fetchone() == (1,)
    assert _fingerprint(pg_empty_dsn) == before


def test_a_replaced_admin_rule_survives_a_second_run(pg_empty_dsn: str) -> None:
    apply_shim(pg_empty_dsn)
    apply_migrations(pg_empty_dsn)
    with psycopg.connect(pg_empty_dsn, autocommit=True) as conn:
        conn.execute(
            "create or replace function public.is_processing_admin() returns boolean "
            "language sql stable as $$ select true $$"
        )
        for path in migration_files():
            conn.execute(path.read_text(encoding="utf-8").encode())
        assert conn.execute("select public.is_processing_admin()").fetchone() == (True,)


def test_the_shim_refuses_a_real_supabase(pg_empty_dsn: str) -> None:
    with psycopg.connect(pg_empty_dsn, autocommit=True) as conn:
        conn.execute("create role supabase_auth_admin nologin")
        try:
            with pytest.raises(MissingSupabaseError, match="real Supabase"):
                apply_shim(pg_empty_dsn)
        finally:
            conn.execute("drop role supabase_auth_admin")


def test_a_failing_migration_is_named_and_not_recorded(
    pg_empty_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_shim(pg_empty_dsn)
    (tmp_path / "20260101000000_good.sql").write_text("create table public.good (x int);")
    (tmp_path / "20260102000000_bad.sql").write_text(
        "create table public.half (x int); select no_such_function();"
    )
    monkeypatch.setenv("MIGRATIONS_DIR", str(tmp_path))
    with pytest.raises(MigrationError, match=r"20260102000000_bad\.sql failed: function"):
        apply_migrations(pg_empty_dsn)
    assert applied_migrations(pg_empty_dsn) == ["20260101000000_good.sql"]
    with psycopg.connect(pg_empty_dsn) as conn:
        row = conn.execute("select to_regclass('public.half')").fetchone()
    assert row == (None,)  # the failed file left nothing behind


def test_a_misnamed_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "001_init.sql").write_text("select 1;")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    monkeypatch.delenv("MIGRATIONS_DIR", raising=False)
    with pytest.raises(MigrationError, match=r"001_init\.sql is not named"):
        migration_files()


def test_migrate_command_on_an_empty_database_then_again(
    pg_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--database-url", pg_empty_dsn]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--with-local-shim" in err and "Traceback" not in err

    assert main(["migrate", "--database-url", pg_empty_dsn, "--with-local-shim"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["applied the local Supabase shim", *(f"applied {n}" for n in _names())]

    assert main(["migrate", "--database-url", pg_empty_dsn]) == 0
    assert capsys.readouterr().out.strip() == f"all {len(_names())} migrations are already applied"


def test_migrate_command_reads_database_url(
    pg_empty_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_empty_dsn)
    assert main(["migrate", "--with-local-shim"]) == 0
    assert "applied" in capsys.readouterr().out


def test_migrate_command_without_a_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["migrate"]) == 1
    assert "DATABASE_URL" in capsys.readouterr().err


def test_migrate_command_names_an_unreachable_database_without_its_password(
    capsys: pytest.CaptureFixture[str], pg_cluster: Any
) -> None:
    url = "postgresql://postgres:hunter2secret@127.0.0.1:1/nowhere?connect_timeout=2"
    assert main(["migrate", "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Could not reach the database") and "hunter2" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_shim_again_after_the_migrations_keeps_their_revokes(pg_empty_dsn: str) -> None:
    apply_shim(pg_empty_dsn)
    apply_migrations(pg_empty_dsn)
    before = _fingerprint(pg_empty_dsn)
    apply_shim(pg_empty_dsn)
    assert _fingerprint(pg_empty_dsn) == before
    with psycopg.connect(pg_empty_dsn) as conn:
        row = conn.execute(
            "select has_function_privilege('anon', "
            "'public.claim_processing_jobs(text, integer, integer)', 'execute'), "
            "has_table_privilege('authenticated', 'public.processing_jobs', 'delete')"
        ).fetchone()
    assert row == (False, False)


def _two_files(folder: Path) -> None:
    (folder / "20260101000000_first.sql").write_text("create table public.first (x int);")
    (folder / "20260102000000_second.sql").write_text("create table public.second (x int);")


def _recorded(dsn: str) -> dict[str, str | None]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select name, checksum from daemon_migrations.applied").fetchall()
    return {name: checksum for name, checksum in rows}


def test_the_package_carries_the_migrations() -> None:
    assert migrate.MIGRATIONS_DIR.parent == Path(migrate.__file__).parent
    assert migrate.MIGRATIONS_DIR.parts[-3:] == ("daemon", "sql", "migrations")
    assert "20261202000100_processing_presets.sql" in _names()


def test_each_applied_file_is_recorded_with_its_sha256(pg_empty_dsn: str) -> None:
    apply_shim(pg_empty_dsn)
    apply_migrations(pg_empty_dsn)
    expected = {
        p.name: hashlib.sha256(p.read_text(encoding="utf-8").encode()).hexdigest()
        for p in migration_files()
    }
    assert _recorded(pg_empty_dsn) == expected


def test_a_migration_changed_after_it_was_applied_is_refused_by_name(
    pg_empty_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_shim(pg_empty_dsn)
    _two_files(tmp_path)
    monkeypatch.setenv("MIGRATIONS_DIR", str(tmp_path))
    apply_migrations(pg_empty_dsn)
    (tmp_path / "20260101000000_first.sql").write_text("create table public.first (y int);")
    (tmp_path / "20260103000000_third.sql").write_text("create table public.third (x int);")
    with pytest.raises(MigrationError) as caught:
        apply_migrations(pg_empty_dsn)
    message = str(caught.value)
    assert message.startswith("Migration 20260101000000_first.sql changed after it was applied")
    assert message.count(".") >= 1 and len(message.splitlines()) == 1
    # Nothing ran: the new file waits until the changed one is put back.
    assert applied_migrations(pg_empty_dsn) == [
        "20260101000000_first.sql",
        "20260102000000_second.sql",
    ]
    (tmp_path / "20260101000000_first.sql").write_text("create table public.first (x int);")
    assert apply_migrations(pg_empty_dsn) == ["20260103000000_third.sql"]


def test_the_migrate_command_names_a_changed_migration(
    pg_empty_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    apply_shim(pg_empty_dsn)
    _two_files(tmp_path)
    monkeypatch.setenv("MIGRATIONS_DIR", str(tmp_path))
    apply_migrations(pg_empty_dsn)
    (tmp_path / "20260102000000_second.sql").write_text("select 1;")
    assert main(["migrate", "--database-url", pg_empty_dsn]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Migration 20260102000000_second.sql changed after it was applied")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("old_record", ["no checksum column", "null checksums"])
def test_a_record_without_checksums_keeps_working_and_is_backfilled(
    pg_empty_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_record: str
) -> None:
    apply_shim(pg_empty_dsn)
    _two_files(tmp_path)
    monkeypatch.setenv("MIGRATIONS_DIR", str(tmp_path))
    column = "" if old_record == "no checksum column" else ", checksum text"
    with psycopg.connect(pg_empty_dsn, autocommit=True) as conn:
        conn.execute("create schema daemon_migrations")
        conn.execute(
            f"create table daemon_migrations.applied (name text primary key{column},"
            " applied_at timestamptz not null default now())"
        )
        conn.execute("create table public.first (x int)")
        conn.execute(
            "insert into daemon_migrations.applied (name) values ('20260101000000_first.sql')"
        )
    assert apply_migrations(pg_empty_dsn) == ["20260102000000_second.sql"]
    recorded = _recorded(pg_empty_dsn)
    assert (
        recorded["20260101000000_first.sql"]
        == hashlib.sha256(b"create table public.first (x int);").hexdigest()
    )
    # From now on the backfilled checksum guards the file like any other.
    (tmp_path / "20260101000000_first.sql").write_text("create table public.first (z int);")
    with pytest.raises(MigrationError, match=r"20260101000000_first\.sql changed"):
        apply_migrations(pg_empty_dsn)


def test_migrate_works_from_an_installed_package_without_a_checkout(
    pg_empty_dsn: str, tmp_path: Path
) -> None:
    """A wheel of the project carries the SQL: migrate from it, outside any checkout."""
    root = Path(__file__).resolve().parents[3]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(root),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = sorted(
            Path(n).name for n in archive.namelist() if n.startswith("daemon/sql/migrations/")
        )
        archive.extractall(tmp_path / "site")
    assert shipped == _names()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(tmp_path / "site"),
        "PYTHONSAFEPATH": "1",  # not the checkout in the current folder
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon",
            "migrate",
            "--database-url",
            pg_empty_dsn,
            "--with-local-shim",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == f"applied {_names()[-1]}"
    assert applied_migrations(pg_empty_dsn) == _names()
