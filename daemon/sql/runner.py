"""Apply the SQL files in `daemon/sql/migrations/` in order, once each, and remember them.

The files are the ones `supabase db push` applies to a real project; this runner serves
`python -m daemon migrate` on any PostgreSQL that has what Supabase provides (a real project, or a
plain PostgreSQL with the local shim). Each file runs in its own transaction together with its
record (name and sha256), under an advisory lock, so two runs at once cannot interleave. A file
that changed after it was applied is refused before anything runs: an applied migration is
history, and a change belongs in a new file.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from daemon.domain.errors import first_line

__all__ = [
    "LOCK_KEY",
    "MIGRATIONS_DIR",
    "Migration",
    "MigrationError",
    "MissingSupabaseError",
    "applied_migrations",
    "apply_migrations",
    "migration_files",
    "migrations",
]

# The package's own copy: `pip install` of the project is enough, no checkout needed.
MIGRATIONS_DIR: Path = Path(__file__).resolve().parent / "migrations"
# Supabase CLI names: <14-digit timestamp>_<name>.sql
_NAME = re.compile(r"^(\d{14})_[A-Za-z0-9_]+\.sql$")
LOCK_KEY = 7_311_948_112  # pg_advisory_lock key shared with the local shim
_SCHEMA = "daemon_migrations"


class MissingSupabaseError(Exception):
    """The database lacks what every Supabase project provides (roles, schemas, publication)."""


class MigrationError(Exception):
    """A migration file is misnamed, failed, or changed after it was applied; names the file."""


@dataclass(frozen=True)
class Migration:
    """One migration file: its name, its SQL and the sha256 the runner records for it."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _directory() -> Path:
    # MIGRATIONS_DIR in the environment points at another folder (tests, a custom set).
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


def migrations(directory: Path | None = None) -> list[Migration]:
    """The migrations with their SQL, in the order they apply."""
    return [
        Migration(path.name, path.read_text(encoding="utf-8"))
        for path in migration_files(directory)
    ]


def _missing_supabase(conn: psycopg.Connection[Any]) -> list[str]:
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
    missing = [f"role {r}" for r in roles]
    missing += [f"schema {s}" for s in schemas]
    if "schema storage" not in missing and not storage_tables:
        missing.append("storage.buckets and storage.objects")
    if "schema auth" not in missing and not auth_functions:
        missing.append("auth.uid() and auth.jwt()")
    if not publication:
        missing.append("publication supabase_realtime")
    return missing


def applied_migrations(dsn: str) -> list[str]:
    """The names recorded as applied, oldest first (empty when none ever ran)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("select to_regclass(%s)", (f"{_SCHEMA}.applied",)).fetchone() == (None,):
            return []
        rows = conn.execute(f"select name from {_SCHEMA}.applied order by name").fetchall()
    return [str(r[0]) for r in rows]


def _prepare_record(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"create schema if not exists {_SCHEMA}")
    conn.execute(
        f"""create table if not exists {_SCHEMA}.applied (
              name text primary key,
              checksum text,
              applied_at timestamptz not null default now())"""
    )
    # A record made before checksums were kept has no checksum column or nulls in it.
    conn.execute(f"alter table {_SCHEMA}.applied add column if not exists checksum text")
    conn.execute(f"alter table {_SCHEMA}.applied alter column checksum drop not null")


def _check_applied(conn: psycopg.Connection[Any], files: list[Migration]) -> set[str]:
    """Refuse a file that changed since it was applied; return the names already applied."""
    recorded: dict[str, str | None] = {
        str(name): checksum
        for name, checksum in conn.execute(f"select name, checksum from {_SCHEMA}.applied")
    }
    for migration in files:
        if migration.name not in recorded:
            continue
        checksum = recorded[migration.name]
        if checksum is None:
            # Applied before checksums were kept: the file as it is now becomes the reference.
            conn.execute(
                f"update {_SCHEMA}.applied set checksum = %s where name = %s and checksum is null",
                (migration.checksum, migration.name),
            )
        elif checksum != migration.checksum:
            raise MigrationError(
                f"Migration {migration.name} changed after it was applied (sha256 "
                f"{migration.checksum[:12]}, applied as {checksum[:12]}): restore the file and "
                "put the change in a new migration."
            )
    return set(recorded)


def apply_migrations(dsn: str, directory: Path | None = None) -> list[str]:
    """Apply, in order, the migrations not applied yet; return the names applied now."""
    files = migrations(directory)
    applied_now: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        missing = _missing_supabase(conn)
        if missing:
            raise MissingSupabaseError(
                f"This database lacks what Supabase provides ({', '.join(missing)}); on a plain "
                "PostgreSQL add the local shim with `python -m daemon migrate --with-local-shim`."
            )
        conn.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            _prepare_record(conn)
            done = _check_applied(conn, files)
            for migration in files:
                if migration.name in done:
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql.encode())
                        conn.execute(
                            f"insert into {_SCHEMA}.applied (name, checksum) values (%s, %s)",
                            (migration.name, migration.checksum),
                        )
                except psycopg.Error as exc:
                    detail = exc.diag.message_primary or first_line(exc)
                    raise MigrationError(f"Migration {migration.name} failed: {detail}") from None
                applied_now.append(migration.name)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now
