"""`python -m daemon status [--watch] [--json]`: the queue at a glance."""

from __future__ import annotations

import argparse
import contextlib
import json

import anyio
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from daemon.adapters.factory import open_admin
from daemon.app.settings import load_settings
from daemon.ports import QueueSummary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch", action="store_true", help="refresh live until Ctrl-C")
    parser.add_argument("--json", action="store_true", help="print the counts per status as JSON")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    admin = open_admin(settings)
    if args.json:
        print(json.dumps(anyio.run(admin.summary).counts))
        return 0
    if not args.watch:
        Console().print(render_summary(anyio.run(admin.summary)))
        return 0

    async def watch() -> None:
        with Live(render_summary(await admin.summary()), auto_refresh=False) as live:
            while True:
                await anyio.sleep(args.interval)
                live.update(render_summary(await admin.summary()), refresh=True)

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(watch)
    return 0


def render_summary(summary: QueueSummary) -> Group:
    counts = Table(title="processing_jobs", show_edge=False)
    for status in summary.counts:
        counts.add_column(status, justify="right")
    counts.add_row(*(str(n) for n in summary.counts.values()))
    lines: list[object] = [counts]
    age = summary.oldest_queued_seconds
    lines.append(f"oldest queued: {_age(age)}" if age is not None else "oldest queued: none")
    if summary.workers:
        workers = Table(title="active workers", show_edge=False)
        workers.add_column("worker")
        workers.add_column("leases", justify="right")
        for worker, n in summary.workers.items():
            workers.add_row(worker, str(n))
        lines.append(workers)
    else:
        lines.append("active workers: none")
    if summary.last_failures:
        failures = Table(title="last failures", show_edge=False)
        for column in ("job", "source", "code", "message"):
            failures.add_column(column, overflow="fold")
        for f in summary.last_failures:
            failures.add_row(f["id"][:8], f["source_path"], f["code"] or "", f["message"] or "")
        lines.append(failures)
    return Group(*lines)  # type: ignore[arg-type]


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
