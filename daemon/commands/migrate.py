"""`python -m daemon migrate [--database-url URL] [--with-local-shim]`: apply the SQL migrations."""

from __future__ import annotations

import argparse

import psycopg

from daemon.app.settings import load_settings
from daemon.cli import CommandError
from daemon.domain.errors import first_line
from daemon.localdb.shim import apply_shim
from daemon.sql.runner import (
    MigrationError,
    MissingSupabaseError,
    apply_migrations,
    migration_files,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="the PostgreSQL to migrate (default: DATABASE_URL)",
    )
    parser.add_argument(
        "--with-local-shim",
        action="store_true",
        help="first add what Supabase provides (roles, auth, storage, publication) to a plain "
        "PostgreSQL; never for a real Supabase project",
    )


def _database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    url = load_settings().database_url
    if url is None:
        raise CommandError("Set DATABASE_URL or pass --database-url to say which database.")
    return url.get_secret_value()


def _one_line(exc: psycopg.Error) -> str:
    return first_line(exc).removeprefix("connection failed: ").rstrip(".?")


def run(args: argparse.Namespace) -> int:
    """Apply the shim (when asked) and every migration not applied yet; print what happened."""
    url = _database_url(args)
    try:
        total = len(migration_files())
        if args.with_local_shim:
            apply_shim(url)
            print("applied the local Supabase shim")
        applied = apply_migrations(url)
    except (MissingSupabaseError, MigrationError) as exc:
        raise CommandError(str(exc)) from None
    except psycopg.OperationalError as exc:
        raise CommandError(f"Could not reach the database: {_one_line(exc)}.") from None
    except psycopg.Error as exc:
        raise CommandError(f"The database refused the migration: {_one_line(exc)}.") from None
    for name in applied:
        print(f"applied {name}")
    if not applied:
        print(f"all {total} migrations are already applied")
    return 0
