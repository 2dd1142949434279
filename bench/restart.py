"""Time from a PostgreSQL restart to a daemon's next claim, on a throwaway local PostgreSQL.

    python bench/restart.py [--restarts 10] [--down-seconds 2]

Runs `python -m daemon run` (the direct-Postgres backend, a 1 s poll) against a fresh database,
warms its pool with eight jobs, then stops the server, keeps it down for `--down-seconds` (0: a
plain `pg_ctl restart`), starts it again and queues one job: the figure is the time from the
server accepting again to that job being claimed. Before each restart eight more jobs keep the
pool full of connections that the restart kills. The goal: every restart within a few seconds.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path and bench/queue.py would shadow the
# standard library's `queue` (which psycopg imports): put the repository there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from daemon.localdb.cluster import LocalPostgres  # noqa: E402
from daemon.localdb.shim import apply_shim  # noqa: E402
from daemon.sql.runner import apply_migrations  # noqa: E402
from tests.acceptance.daemon.harness import Env, cutout_png, running, wait_until  # noqa: E402


def measure(restarts: int, down_seconds: float) -> list[float]:
    """Seconds from the server accepting again to the next claim, one figure per restart."""
    figures: list[float] = []
    with LocalPostgres() as pg, tempfile.TemporaryDirectory() as folder:
        dsn = pg.create_database("bench")
        apply_shim(dsn)
        apply_migrations(dsn)
        storage = Path(folder) / "storage"
        storage.mkdir()
        env = Env(dsn=dsn, storage=storage)
        with running(env, Path(folder), poll_interval_seconds="1", log_level="INFO"):
            for number in range(restarts):
                warm = [env.enqueue(cutout_png(seed=k), "car.png") for k in range(8)]
                env.wait_for(warm, {"succeeded"}, timeout=120)
                if down_seconds > 0:
                    pg.stop()
                    time.sleep(down_seconds)
                    pg.start()
                else:
                    pg.restart()
                up = time.monotonic()
                job = env.enqueue(cutout_png(), "car.png")
                wait_until(
                    lambda job=job: env.job(job)["status"] != "queued", timeout=120, what="a claim"
                )
                figures.append(round(time.monotonic() - up, 2))
                print(f"restart {number + 1}: claimed {figures[-1]:.2f} s after", flush=True)
                env.wait_for([job], {"succeeded"}, timeout=120)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--down-seconds", type=float, default=2.0)
    args = parser.parse_args()
    figures = measure(args.restarts, args.down_seconds)
    summary = {
        "restarts": len(figures),
        "down_seconds": args.down_seconds,
        "seconds_to_next_claim": figures,
        "median": statistics.median(figures),
        "max": max(figures),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
