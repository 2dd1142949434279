"""Apply the SQL files in migrations/ in order, once each, recording them in a schema of its own.

The files are the ones `supabase db push` applies to a real project; this runner serves a plain
PostgreSQL (the direct backend, tests, `demo`). Each file runs in its own transaction together
with its record, under an advisory lock, so two runs at once cannot interleave.
"""

from __future__ import annotations

import hashlib
import os
import re
from importlib import resources
from pathlib import Path

import psycopg

__all__ = [
    "MIGRATIONS_DIR",
    "MigrationError",
    "MissingSupabaseError",
    "applied_migrations",
    "apply_migrations",
    "apply_shim",
    "migration_files",
]

MIGRATIONS_DIR: Path = Path(
    os.environ.get("MIGRATIONS_DIR") or Path(__file__).resolve().parents[2] / "migrations"
)
# Supabase CLI names: <14-digit timestamp>_<name>.sql
_NAME = re.compile(r"^(\d{14})_[A-Za-z0-9_]+\.sql$")
_LOCK_KEY = 7_311_948_112  # pg_advisory_lock key of this runner
_SCHEMA = "daemon_migrations"


class MissingSupabaseError(Exception):
    """The database lacks what every Supabase project provides (roles, schemas, publication)."""


class MigrationError(Exception):
    """A migration file is misnamed or failed; the message names the file."""


def _directory() -> Path:
    configured = os.environ.get("MIGRATIONS_DIR")
    return Path(configured) if configured else MIGRATIONS_DIR


def migration_files(directory: Path | None = None) -> list[Path]:
    """The migration files in the order they apply (by their timestamp)."""
    folder = directory or _directory()
    if not folder.is_dir():
        raise MigrationError(f"The migrations folder {folder} does not exist.")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".sql")
    for path in files:
        if not _NAME.match(path.name):
            raise MigrationError(
                f"Migration {path.name} is not named <14-digit timestamp>_<name>.sql."
            )
    return files


def _missing_supabase(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    row = conn.execute(
        """
        select
          array(select r from unnest(array['anon', 'authenticated', 'service_role']) r
                where not exists (select 1 from pg_roles where rolname = r)),
          array(select s from unnest(array['auth', 'storage']) s
                where not exists (select 1 from pg_namespace where nspname = s)),
          to_regclass('storage.buckets') is not null and to_regclass('storage.objects') is not null,
          to_regprocedure('auth.uid()') is not null and to_regprocedure('auth.jwt()') is not null,
          exists (select 1 from pg_publication where pubname = 'supabase_realtime')
        """
    ).fetchone()
    assert row is not None
    roles, schemas, storage_tables, auth_functions, publication = row
    missing = [f"role {r}" for r in roles]  # type: ignore[attr-defined]
    missing += [f"schema {s}" for s in schemas]  # type: ignore[attr-defined]
    if "schema storage" not in missing and not storage_tables:
        missing.append("storage.buckets and storage.objects")
    if "schema auth" not in missing and not auth_functions:
        missing.append("auth.uid() and auth.jwt()")
    if not publication:
        missing.append("publication supabase_realtime")
    return missing


def apply_shim(dsn: str) -> None:
    """Add the local Supabase shim to a plain PostgreSQL; idempotent; refuses a real Supabase."""
    shim = resources.files("daemon.localdb").joinpath("supabase_shim.sql").read_text("utf-8")
    with psycopg.connect(dsn, autocommit=True) as conn:
        real = conn.execute(
            "select exists (select 1 from pg_roles where rolname = 'supabase_auth_admin')"
        ).fetchone()
        if real and real[0]:
            raise MissingSupabaseError(
                "This database is a real Supabase project (it has the role supabase_auth_admin); "
                "the local shim is only for a plain PostgreSQL."
            )
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(shim.encode())


def applied_migrations(dsn: str) -> list[str]:
    """The names recorded as applied, oldest first (empty when none ever ran)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("select to_regclass(%s)", (f"{_SCHEMA}.applied",)).fetchone() == (None,):
            return []
        rows = conn.execute(f"select name from {_SCHEMA}.applied order by name").fetchall()
    return [str(r[0]) for r in rows]


def apply_migrations(dsn: str) -> list[str]:
    """Apply, in order, the migrations not applied yet; return the names applied now."""
    files = migration_files()
    applied_now: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        missing = _missing_supabase(conn)
        if missing:
            raise MissingSupabaseError(
                f"This database lacks what Supabase provides ({', '.join(missing)}); on a plain "
                "PostgreSQL add the local shim with `python -m daemon migrate --with-local-shim`."
            )
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(f"create schema if not exists {_SCHEMA}")
            conn.execute(
                f"""create table if not exists {_SCHEMA}.applied (
                      name text primary key,
                      checksum text not null,
                      applied_at timestamptz not null default now())"""
            )
            done = {r[0] for r in conn.execute(f"select name from {_SCHEMA}.applied")}
            for path in files:
                if path.name in done:
                    continue
                text = path.read_text(encoding="utf-8")
                try:
                    with conn.transaction():
                        conn.execute(text.encode())
                        conn.execute(
                            f"insert into {_SCHEMA}.applied (name, checksum) values (%s, %s)",
                            (path.name, hashlib.sha256(text.encode()).hexdigest()),
                        )
                except psycopg.Error as exc:
                    detail = exc.diag.message_primary or str(exc).splitlines()[0]
                    raise MigrationError(f"Migration {path.name} failed: {detail}") from None
                applied_now.append(path.name)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
