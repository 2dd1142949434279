"""How long a running claim takes to stop after its job is cancelled, by wake-up hint.

    python bench/cancel_latency.py [--runs 20] [--lease 30]

On the in-memory backend (no database): a worker claims a job whose download takes far longer
than the run, the job is cancelled mid-download, and the time until the claim is over (no
provider call, no upload) is measured; the heartbeat alone would take up to lease/3. Prints
p50, p95 and max in milliseconds, then one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path and bench/queue.py would shadow the
# standard library's `queue`: put the repository there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import anyio  # noqa: E402
from loguru import logger  # noqa: E402

from daemon.adapters.memory import (  # noqa: E402
    MemoryRemover,
    MemoryStore,
    MemoryTable,
    memory_backend,
)
from daemon.app.settings import Settings  # noqa: E402
from daemon.lifecycle.worker import Worker  # noqa: E402

SOURCE = "vehicle-photos"


class SlowDownloads:
    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner

    async def get(self, bucket: str, path: str) -> bytes:
        if bucket == SOURCE:
            await anyio.sleep(60)
        return await self.inner.get(bucket, path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def one_run(lease: int) -> tuple[float, int]:
    table = MemoryTable()
    backend = memory_backend(table)
    inner = backend.store
    assert isinstance(inner, MemoryStore)
    backend.store = SlowDownloads(inner)  # type: ignore[assignment]
    await inner.put(SOURCE, "lot/car.jpg", b"not decoded", content_type="image/jpeg")
    remover = MemoryRemover()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        supabase_url=None,
        database_url=None,
        lease_seconds=lease,
        poll_interval_seconds=0.2,
        worker_concurrency=1,
    )
    worker = Worker(backend, remover, settings, "bench")
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run, stop)
        job_id = table.insert("lot/car.jpg")
        while job_id not in worker.active or worker.active[job_id].stage != "downloading":  # noqa: ASYNC110
            await anyio.sleep(0.001)
        await anyio.sleep(0.05)
        cancelled = time.perf_counter()
        table.cancel(job_id)
        while job_id in worker.active:  # noqa: ASYNC110 - watching from outside, finely
            await anyio.sleep(0.0005)
        elapsed = time.perf_counter() - cancelled
        stop.set()
    await backend.aclose()
    return elapsed * 1000, remover.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--lease", type=int, default=30)
    args = parser.parse_args()
    logger.remove()
    figures = [anyio.run(one_run, args.lease) for _ in range(args.runs)]
    ms = sorted(f[0] for f in figures)
    result = {
        "runs": args.runs,
        "heartbeat_interval_ms": args.lease / 3 * 1000,
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[max(0, int(len(ms) * 0.95) - 1)], 2),
        "max_ms": round(ms[-1], 2),
        "provider_calls": sum(f[1] for f in figures),
    }
    print(
        f"cancel to stop: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
        f"max {result['max_ms']} ms (heartbeat every {result['heartbeat_interval_ms']:.0f} ms)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
