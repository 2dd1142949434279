"""The local Supabase shim: what every Supabase project provides, added to a plain PostgreSQL.

Roles, the auth and storage schemas, the Realtime publication: enough for the migrations to apply
to a throwaway database (tests, `demo`) or to a plain PostgreSQL used with the direct backend.
"""

from __future__ import annotations

from importlib import resources

import psycopg

from daemon.sql.runner import LOCK_KEY, MissingSupabaseError

__all__ = ["apply_shim"]


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
            conn.execute("select pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            conn.execute(shim.encode())
