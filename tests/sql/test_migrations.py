"""The migrations and the migrate command: in order, recorded, harmless the second time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from daemon.cli import main
from daemon.localdb import migrate
from daemon.localdb.migrate import (
    MigrationError,
    MissingSupabaseError,
    applied_migrations,
    apply_migrations,
    apply_shim,
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
