"""Throughput of the whole daemon: the local backend, a remover double with latency.

    .venv/bin/python bench/throughput.py [--latency 1.5] [--jitter 0.3] [--jobs-per-worker 4]

Runs `python -m daemon run` as a subprocess against a throwaway Postgres and a storage folder, with
the API4.ai double (as its own process) answering after `latency` seconds. Reports, side by side
in one run:

- images per minute at concurrency 1, 2, 4 and 8 (or --concurrency), beside the ideal for that
  concurrency: min(cores / shared_cpu, concurrency / (latency + daemon_cpu)), where daemon_cpu
  and shared_cpu (the daemon's and the double's, which share the cores) are measured per image
  in the same run. The rate is the steady state (the jobs after the first wave of `concurrency`,
  over the time from that wave's last completion to the last); the whole run, ramp-up included,
  is printed beside it;
- insert-to-claim latency p50/p95 (database clock: started_at - created_at) with LISTEN and with
  the poll alone;
- the daemon's peak RSS.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on sys.path, and bench/queue.py would shadow the standard
# library's queue module (which psycopg imports): put the repository there instead.
REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from PIL import Image  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from daemon.localdb.cluster import LocalPostgres  # noqa: E402
from daemon.localdb.shim import apply_shim  # noqa: E402
from daemon.pipeline import ProcessingOptions, process_image  # noqa: E402
from daemon.pipeline.removal import Removal  # noqa: E402
from daemon.sql.runner import apply_migrations  # noqa: E402

SAMPLE = REPO / "daemon" / "samples" / "studio-sedan.jpg"
API_KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def distinct_photos(n: int) -> list[bytes]:
    """The same photo n times with different bytes (a JPEG comment), so the cache never hits."""
    with Image.open(SAMPLE) as image:
        image.load()
        return [_jpeg(image, comment=f"bench-{i}-{time.time_ns()}") for i in range(n)]


def _jpeg(image: Image.Image, comment: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, comment=comment.encode())
    return buffer.getvalue()


def cpu_seconds_per_image(photo: bytes, rounds: int = 5) -> float:
    """CPU time of the pipeline on one photo with a mask answer, as the daemon runs it."""
    from tests.doubles.api4ai import estimate_mask

    with Image.open(io.BytesIO(photo)) as image:
        mask = estimate_mask(image.convert("RGB"))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    removal = Removal(kind="mask", png=buffer.getvalue(), provider="api4ai", mode="fg-mask")
    options = ProcessingOptions()
    process_image(photo, options, removal=removal)  # warm-up
    start = time.process_time()
    for _ in range(rounds):
        process_image(photo, options, removal=removal)
    return (time.process_time() - start) / rounds


class Rig:
    """A database, a storage folder and the remover double, shared by every run."""

    def __init__(self, root: Path, latency: float, jitter: float) -> None:
        self.pg = LocalPostgres()  # a folder of its own: the server account must reach it
        self.pg.start()
        self.dsn = self.pg.create_database("bench")
        apply_shim(self.dsn)
        apply_migrations(self.dsn)
        self.storage = root / "storage"
        self.double_port = free_port()
        self.double = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.doubles.api4ai",
                "--port",
                str(self.double_port),
                "--latency",
                str(latency),
                "--jitter",
                str(jitter),
                "--api-key",
                API_KEY,
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def close(self) -> None:
        self.double.send_signal(signal.SIGTERM)
        self.double.wait(10)
        self.pg.cleanup()

    def enqueue(self, photos: list[bytes]) -> list[str]:
        ids = []
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for i, photo in enumerate(photos):
                path = f"bench/{time.time_ns()}-{i}.jpg"
                file = self.storage / "vehicle-photos" / path
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(photo)
                row = conn.execute(
                    "insert into processing_jobs (source_path, options) values (%s, %s)"
                    " returning id::text",
                    (path, Jsonb({})),
                ).fetchone()
                assert row is not None
                ids.append(row[0])
        return ids

    def start_daemon(
        self, concurrency: int, *, remover: str, wakeups: bool
    ) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "API4AI_"))}
        env.update(
            SUPABASE_URL="",  # beats a developer's .env
            DATABASE_URL=self.dsn,
            STORAGE_DIR=str(self.storage),
            HEALTH_PORT="0",
            HEALTH_HOST="127.0.0.1",
            WORKER_CONCURRENCY=str(concurrency),
            POLL_INTERVAL_SECONDS="1",
            WAKEUPS_ENABLED="true" if wakeups else "false",
            LOG_LEVEL="WARNING",
            LOG_FORMAT="json",
            BACKGROUND_REMOVER=remover,
            API4AI_CONCURRENCY=str(concurrency),
            API4AI_API_KEY=API_KEY,
            API4AI_URL=f"http://127.0.0.1:{self.double_port}/img-bg-removal/v1/cars/results",
        )
        daemon = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)  # start-up (imports, pool, LISTEN)
        return daemon

    def wait_done(self, ids: list[str], timeout: float = 900) -> list[tuple[Any, ...]]:
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while True:
                rows = conn.execute(
                    "select status, created_at, started_at, finished_at from processing_jobs"
                    " where id = any(%s::uuid[])",
                    (ids,),
                ).fetchall()
                if all(r[0] in ("succeeded", "failed") for r in rows):
                    return rows
                if time.monotonic() > deadline:
                    raise SystemExit("benchmark jobs did not finish")
                time.sleep(0.05)


def stop(daemon: subprocess.Popen[bytes]) -> float:
    """Stop a daemon; returns its peak RSS in MB."""
    status = Path(f"/proc/{daemon.pid}/status").read_text()
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(60)
    return peak


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    per_minute: float  # in the steady state (see `throughput`)
    per_minute_whole_run: float  # from the first insert to the last completion
    peak_rss_mb: float
    daemon_cpu: float  # seconds per image, in the daemon (pipeline, upload encode, I/O, logs)
    double_cpu: float  # seconds per image, in the API4.ai double (it shares these cores)


def throughput(rig: Rig, concurrency: int, jobs: int) -> Run:
    daemon = rig.start_daemon(concurrency, remover="api4ai", wakeups=True)
    photos = distinct_photos(jobs)
    daemon_cpu0, double_cpu0 = cpu_seconds(daemon.pid), cpu_seconds(rig.double.pid)
    started = time.monotonic()
    ids = rig.enqueue(photos)
    rows = rig.wait_done(ids)
    elapsed = time.monotonic() - started
    daemon_cpu = (cpu_seconds(daemon.pid) - daemon_cpu0) / jobs
    double_cpu = (cpu_seconds(rig.double.pid) - double_cpu0) / jobs
    peak = stop(daemon)
    failed = [r for r in rows if r[0] != "succeeded"]
    if failed:
        raise SystemExit(f"{len(failed)} benchmark job(s) failed")
    # The steady state, by the database clock: the jobs after the first wave, over the time from
    # the first wave's last completion to the last one. The first wave waits on its first
    # provider call with the cores idle by construction (ramp-up, not throughput); counting its
    # completions without its time would overstate the rate.
    finishes = sorted(r[3] for r in rows)
    wave = min(concurrency, jobs - 1)
    steady = (jobs - wave) / (finishes[-1] - finishes[wave - 1]).total_seconds() * 60
    return Run(steady, jobs / elapsed * 60, peak, daemon_cpu, double_cpu)


def claim_latency(rig: Rig, *, wakeups: bool, samples: int) -> list[float]:
    daemon = rig.start_daemon(4, remover="none", wakeups=wakeups)
    with Image.open(SAMPLE) as image:
        small = _jpeg(image.resize((320, 213)), "latency")
    ids = []
    for _ in range(samples):
        ids += rig.enqueue([small])
        time.sleep(0.15 if wakeups else 0.35)
    rows = rig.wait_done(ids)
    stop(daemon)
    return sorted((r[2] - r[1]).total_seconds() * 1000 for r in rows)


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=1.5)
    parser.add_argument("--jitter", type=float, default=0.3)
    parser.add_argument("--jobs-per-worker", type=int, default=6)
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--latency-samples", type=int, default=40)
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    cpu = cpu_seconds_per_image(distinct_photos(1)[0])
    print(
        f"cores {cores}, pipeline CPU per image {cpu * 1000:.0f} ms, remover latency "
        f"{args.latency} s +- {args.jitter} s"
    )
    figures: dict[str, Any] = {
        "cores": cores,
        "cpu_ms_per_image": round(cpu * 1000),
        "remover_latency_s": args.latency,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        rig = Rig(Path(tmp), args.latency, args.jitter)
        try:
            peak_rss = 0.0
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                jobs = max(8, concurrency * args.jobs_per_worker)
                run = throughput(rig, concurrency, jobs)
                per_minute, peak = run.per_minute, run.peak_rss_mb
                # The ideal on this machine: the cores shared by the daemon and the double,
                # or the concurrency over the time one job waits and works, whichever binds.
                shared_cpu = run.daemon_cpu + run.double_cpu
                mean_latency = args.latency + args.jitter / 2
                ideal = 60 * min(cores / shared_cpu, concurrency / (mean_latency + run.daemon_cpu))
                peak_rss = max(peak_rss, peak)
                print(
                    f"concurrency {concurrency}: {per_minute:6.1f} images/min, ideal "
                    f"{ideal:6.1f} ({per_minute / ideal:.0%}; whole run "
                    f"{run.per_minute_whole_run / ideal:.0%}); CPU per image: daemon "
                    f"{run.daemon_cpu * 1000:.0f} ms, double {run.double_cpu * 1000:.0f} ms; "
                    f"peak RSS {peak:.0f} MB"
                )
                figures["runs"].append(
                    {
                        "daemon_cpu_ms_per_image": round(run.daemon_cpu * 1000),
                        "double_cpu_ms_per_image": round(run.double_cpu * 1000),
                        "concurrency": concurrency,
                        "jobs": jobs,
                        "images_per_minute": round(per_minute, 1),
                        "ideal_per_minute": round(ideal, 1),
                        "ratio_to_ideal": round(per_minute / ideal, 3),
                        "images_per_minute_whole_run": round(run.per_minute_whole_run, 1),
                        "ratio_to_ideal_whole_run": round(run.per_minute_whole_run / ideal, 3),
                        "peak_rss_mb": round(peak),
                    }
                )
            listen = claim_latency(rig, wakeups=True, samples=args.latency_samples)
            poll = claim_latency(rig, wakeups=False, samples=max(10, args.latency_samples // 2))
        finally:
            rig.close()
    figures["insert_to_claim_ms"] = {
        "listen": {
            "p50": round(percentile(listen, 50), 1),
            "p95": round(percentile(listen, 95), 1),
        },
        "poll_only": {"p50": round(percentile(poll, 50), 1), "p95": round(percentile(poll, 95), 1)},
    }
    figures["peak_rss_mb"] = round(peak_rss)
    print(
        f"insert to claim with LISTEN: p50 {figures['insert_to_claim_ms']['listen']['p50']} ms, "
        f"p95 {figures['insert_to_claim_ms']['listen']['p95']} ms; poll only: p50 "
        f"{figures['insert_to_claim_ms']['poll_only']['p50']} ms"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
