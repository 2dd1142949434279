"""Benchmark of the job queue in SQL on a throwaway local PostgreSQL.

    python bench/queue.py [--seconds 3] [--requeue-rows 50000]

Measures, against a fresh database with the shim and the migrations:
- claims per second with 1, 4 and 16 claimers, batches of 1 and of 10. Each claimer runs the
  daemon's cycle: claim a batch, then complete it (one statement), so the jobs in flight stay as
  few as in production;
- insert-to-notification latency (p50, p95) on the processing_jobs channel;
- a requeue of 50,000 finished rows by hand: its time and the notifications it sent;
- table and index size before and after burning those 50,000 jobs down with 16 workers
  (claim, a heartbeat, complete), and the share of HOT updates.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path and this file would shadow the standard
# library's `queue` (which psycopg imports): put the repository there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import psycopg  # noqa: E402

from daemon.localdb.cluster import LocalPostgres  # noqa: E402
from daemon.localdb.shim import apply_shim  # noqa: E402
from daemon.sql.runner import apply_migrations  # noqa: E402

COMPLETE_BATCH = (
    "select count(*) filter (where public.complete_processing_job(t.id, t.token, '{}'::jsonb)) "
    "from unnest(%s::uuid[], %s::uuid[]) as t(id, token)"
)
HEARTBEAT_BATCH = (
    "select count(*) filter (where public.heartbeat_processing_job(t.id, t.token, 60, "
    "'rendering', 50)) from unnest(%s::uuid[], %s::uuid[]) as t(id, token)"
)


def _service(dsn: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("set role service_role")
    return conn


def _worker(
    dsn: str,
    worker: str,
    batch: int,
    start: threading.Barrier,
    stop_at: list[float],
    heartbeat: bool,
    out: list[tuple[int, int]],
) -> None:
    claimed = calls = 0
    with _service(dsn) as conn:
        start.wait()
        while time.perf_counter() < stop_at[0]:
            rows = conn.execute(
                "select id, lease_token from public.claim_processing_jobs(%s, %s, 60)",
                (worker, batch),
            ).fetchall()
            calls += 1
            if not rows:
                break
            ids = [r[0] for r in rows]
            tokens = [r[1] for r in rows]
            if heartbeat:
                conn.execute(HEARTBEAT_BATCH, (ids, tokens))
            conn.execute(COMPLETE_BATCH, (ids, tokens))
            claimed += len(rows)
    out.append((claimed, calls))


def run_claimers(
    dsn: str, claimers: int, batch: int, seconds: float, heartbeat: bool = False
) -> dict[str, float]:
    """Run `claimers` threads for `seconds` (or until the queue is empty); return the rates."""
    start = threading.Barrier(claimers + 1)
    stop_at = [float("inf")]
    out: list[tuple[int, int]] = []
    threads = [
        threading.Thread(
            target=_worker, args=(dsn, f"bench-{i}", batch, start, stop_at, heartbeat, out)
        )
        for i in range(claimers)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    jobs = sum(c for c, _ in out)
    calls = sum(n for _, n in out)
    return {
        "jobs": jobs,
        "seconds": round(elapsed, 3),
        "claims_per_s": round(jobs / elapsed, 1),
        "claim_calls_per_s": round(calls / elapsed, 1),
    }


def _fill(conn: psycopg.Connection[Any], rows: int) -> None:
    conn.execute("truncate public.processing_jobs")
    conn.execute(
        "insert into public.processing_jobs (source_path, vehicle_id) "
        "select 'bench/' || g || '.jpg', 'V' || (g / 20) from generate_series(1, %s) g",
        (rows,),
    )
    conn.execute("vacuum analyze public.processing_jobs")


def claim_rates(dsn: str, seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as owner:
        for claimers in (1, 4, 16):
            for batch in (1, 10):
                # More than the run can drain, so the rate is never capped by an empty queue.
                _fill(owner, max(20_000, int(seconds * 6_000 * batch)))
                key = f"c{claimers}_b{batch}"
                results[key] = run_claimers(dsn, claimers, batch, seconds)
                print(f"claims {key}: {results[key]}", flush=True)
    return results


def notify_latency(dsn: str, samples: int = 200) -> dict[str, float]:
    with (
        psycopg.connect(dsn, autocommit=True) as owner,
        psycopg.connect(dsn, autocommit=True) as listener,
    ):
        owner.execute("truncate public.processing_jobs")
        listener.execute("listen processing_jobs")
        waits: list[float] = []
        for i in range(samples):
            began = time.perf_counter()
            owner.execute(
                "insert into public.processing_jobs (source_path) values (%s)", (f"n/{i}.jpg",)
            )
            for _ in listener.notifies(timeout=5, stop_after=1):
                waits.append((time.perf_counter() - began) * 1000)
        if len(waits) != samples:
            raise RuntimeError(f"{samples - len(waits)} notifications never arrived")
    ordered = sorted(waits)
    result = {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "samples": samples,
    }
    print(f"insert-to-notification: {result}", flush=True)
    return result


def _sizes(conn: psycopg.Connection[Any]) -> dict[str, int]:
    row = conn.execute(
        "select pg_table_size('public.processing_jobs'), pg_indexes_size('public.processing_jobs')"
    ).fetchone()
    assert row is not None
    return {"table_bytes": int(row[0]), "index_bytes": int(row[1])}


def requeue_and_burn_down(dsn: str, rows: int) -> dict[str, Any]:
    with (
        psycopg.connect(dsn, autocommit=True) as owner,
        psycopg.connect(dsn, autocommit=True) as listener,
    ):
        owner.execute("truncate public.processing_jobs")
        owner.execute(
            """insert into public.processing_jobs
                 (source_path, vehicle_id, status, progress, stage, result, finished_at)
               select 'bench/' || g || '.jpg', 'V' || (g / 20), 'succeeded', 100, 'done',
                      '{"variants": {}}', now()
               from generate_series(1, %s) g""",
            (rows,),
        )
        owner.execute("vacuum analyze public.processing_jobs")
        owner.execute("select pg_stat_reset()")
        listener.execute("listen processing_jobs")
        began = time.perf_counter()
        owner.execute("update public.processing_jobs set status = 'queued'")
        requeue_ms = (time.perf_counter() - began) * 1000
        notes = list(listener.notifies(timeout=1.0))
        before = _sizes(owner)
        print(
            f"requeue of {rows} rows: {requeue_ms:.0f} ms, {len(notes)} notification(s), "
            f"sizes {before}",
            flush=True,
        )
        burn = run_claimers(dsn, 16, 10, seconds=600, heartbeat=True)
        after = _sizes(owner)
        time.sleep(0.6)  # the statistics collector flushes every 500 ms
        stats = owner.execute(
            "select n_tup_upd, n_tup_hot_upd, n_dead_tup from pg_stat_user_tables "
            "where relid = 'public.processing_jobs'::regclass"
        ).fetchone()
        left = owner.execute(
            "select count(*) from public.processing_jobs where status <> 'succeeded'"
        ).fetchone()
        print(f"burn-down: {burn}, sizes after {after}, updates/hot/dead {stats}", flush=True)
    return {
        "rows": rows,
        "requeue_ms": round(requeue_ms, 1),
        "notifications": len(notes),
        "before": before,
        "burn_down": burn,
        "after": after,
        "not_succeeded_after": int(left[0]) if left else None,
        "updates": int(stats[0]) if stats else None,
        "hot_updates": int(stats[1]) if stats else None,
        # Only heartbeats can be HOT (claim, complete and requeue change status, which the
        # partial indexes depend on): one heartbeat per job here.
        "heartbeats": burn["jobs"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per claim-rate run")
    parser.add_argument("--requeue-rows", type=int, default=50_000)
    args = parser.parse_args()
    with LocalPostgres() as pg:
        dsn = pg.create_database("bench")
        apply_shim(dsn)
        apply_migrations(dsn)
        figures: dict[str, Any] = {
            "claims": claim_rates(dsn, args.seconds),
            "notify_latency": notify_latency(dsn),
            "requeue": requeue_and_burn_down(dsn, args.requeue_rows),
        }
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
