"""Small helpers for the SQL contract tests: call the functions as PostgREST would, read rows."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.fixtures.postgres import as_role

Conn = psycopg.Connection[dict[str, Any]]


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, (dict, list)) else value


def call(
    conn: Conn, function: str, role: str = "service_role", **args: Any
) -> list[dict[str, Any]]:
    """`select * from public.<function>(name => value, ...)` as `role`, committed."""
    statement = sql.SQL("select * from public.{}({})").format(
        sql.Identifier(function),
        sql.SQL(", ").join(sql.SQL("{} => %s").format(sql.Identifier(k)) for k in args),
    )
    with as_role(conn, role, commit=True):
        return conn.execute(statement, [_adapt(v) for v in args.values()]).fetchall()


def scalar(conn: Conn, function: str, **args: Any) -> Any:
    """The single value a scalar function returns, called as service_role."""
    rows = call(conn, function, **args)
    assert len(rows) == 1
    return next(iter(rows[0].values()))


def claim(
    conn: Conn, worker: str = "worker-1", n: int = 1, lease: int = 60
) -> list[dict[str, Any]]:
    """claim_processing_jobs as the daemon calls it."""
    return call(conn, "claim_processing_jobs", worker_id=worker, max_jobs=n, lease_seconds=lease)


def insert_jobs(conn: Conn, count: int = 1, **columns: Any) -> list[uuid.UUID]:
    """Insert `count` queued jobs (as the owner) with these column values; return their ids."""
    columns.setdefault("source_path", "originals/car.jpg")
    names = sql.SQL(", ").join(sql.Identifier(n) for n in columns)
    picked = sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(n)) for n in columns)
    statement = sql.SQL(
        "insert into public.processing_jobs ({}) select {} from generate_series(1, %s), "
        "jsonb_populate_record(null::public.processing_jobs, %s) r returning id"
    ).format(names, picked)
    values = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in columns.items()}
    rows = conn.execute(statement, [count, Jsonb(values)]).fetchall()
    return [r["id"] for r in rows]


def job(conn: Conn, job_id: uuid.UUID) -> dict[str, Any]:
    """The row as it is now."""
    row = conn.execute("select * from public.processing_jobs where id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


def expire_lease(conn: Conn, job_id: uuid.UUID) -> None:
    """Make a claim's lease run out, as if its worker died."""
    conn.execute(
        "update public.processing_jobs set lease_expires_at = now() - interval '1 second' "
        "where id = %s",
        (job_id,),
    )


def make_due(conn: Conn, job_id: uuid.UUID) -> None:
    """Let a job waiting out its backoff be claimed now."""
    conn.execute("update public.processing_jobs set run_after = now() where id = %s", (job_id,))


def error_json(
    code: str = "storage_failed", message: str = "Storage answered 503."
) -> dict[str, Any]:
    """An error as the daemon sends it (attempt and at are filled in by the database)."""
    return {"code": code, "message": message, "retryable": True, "attempt": None, "at": None}
