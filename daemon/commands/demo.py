"""`python -m daemon demo`: the whole system on this machine, with nothing configured.

A throwaway Postgres in a temporary folder (the local Supabase shim and the migrations applied),
a storage folder, the sample photos queued, the daemon processing them with a live display, then a
summary of what came out and where. The database is removed at the end; the outputs stay.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.live import Live
from rich.table import Table

from daemon.adapters.admin import QueueSummary, enqueue_file
from daemon.app.logs import setup_logging
from daemon.app.settings import Settings, load_settings
from daemon.cli import CommandError

TERMINAL = {"succeeded", "failed", "cancelled"}
SAMPLE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="where the outputs go (kept)"
    )
    parser.add_argument("files", nargs="*", type=Path, help="photos to use instead of the samples")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this long")


def sample_files() -> list[Path]:
    folder = resources.files("daemon") / "samples"
    return sorted(
        Path(str(item))
        for item in folder.iterdir()
        # *.mask.png files are a provider's answers kept beside the originals, not photos.
        if Path(item.name).suffix.lower() in SAMPLE_SUFFIXES and ".mask." not in item.name
    )


def run(args: argparse.Namespace) -> int:
    from daemon.localdb.cluster import ClusterError, LocalPostgres, PostgresNotInstalled

    files = list(args.files) or sample_files()
    if not files:
        raise CommandError("No sample photos found in the package; pass some photo files.")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise CommandError(f"No such file: {missing[0]}.")
    console = Console()
    out: Path = args.out.resolve()
    for bucket in ("vehicle-photos", "vehicle-photos-processed", "processing-cache"):
        shutil.rmtree(out / bucket, ignore_errors=True)  # only what an earlier demo made

    console.print("[bold]Starting a throwaway PostgreSQL[/bold] ...")
    try:
        pg = LocalPostgres()  # in a temporary folder of its own, removed by cleanup()
    except PostgresNotInstalled as exc:
        raise CommandError(str(exc)) from None
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(pg.cleanup)
        try:
            pg.start()
        except ClusterError as exc:
            raise CommandError(f"The throwaway PostgreSQL did not start: {exc}") from None
        dsn = pg.create_database("demo")
        from daemon.localdb.shim import apply_shim
        from daemon.sql.runner import apply_migrations

        apply_shim(dsn)
        applied = apply_migrations(dsn)
        console.print(f"Applied the local Supabase shim and {len(applied)} migration(s).")
        settings = load_settings(
            database_url=dsn,
            supabase_url=None,
            supabase_service_role_key=None,
            storage_dir=out,
            storage_public_url=None,
            health_port=0,
            health_host="127.0.0.1",
            poll_interval_seconds=1.0,
            log_level="WARNING",
        )
        setup_logging(settings.log_level, "text")
        results = anyio.run(_demo, settings, files, console, args.timeout)
    _print_summary(console, results, out, settings)
    return 0 if all(job["status"] == "succeeded" for job in results) else 1


async def _demo(
    settings: Settings, files: list[Path], console: Console, timeout: float
) -> list[dict[str, Any]]:
    from daemon.adapters.factory import open_admin, open_backend
    from daemon.app.service import build_remover, run_worker

    assert settings.database_url is not None
    admin = open_admin(settings)
    backend = await open_backend(settings)
    remover = build_remover(settings)
    try:
        job_ids = [
            await enqueue_file(
                admin, backend.store, settings.source_bucket, file, vehicle_id="demo", options={}
            )
            for file in files
        ]
        console.print(f"Queued {len(job_ids)} photo(s); the daemon is processing them:")
        stop = anyio.Event()
        summary: QueueSummary | None = None
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_worker(settings, backend, remover, stop, handle_signals=False)
            )
            with Live(console=console, auto_refresh=False, transient=False) as live:
                while time.monotonic() - started < timeout:
                    summary = await admin.summary(job_ids=job_ids)
                    live.update(_progress_table(summary, started), refresh=True)
                    if all(job["status"] in TERMINAL for job in summary.jobs):
                        break
                    await anyio.sleep(0.2)
            stop.set()
        console.print()
        assert summary is not None
        return summary.jobs
    finally:
        with anyio.CancelScope(shield=True):
            await remover.aclose()
            await backend.aclose()


def _progress_table(summary: QueueSummary, started: float) -> Table:
    table = Table(
        title=f"{time.monotonic() - started:.1f} s", show_edge=False, title_justify="left"
    )
    for column in ("photo", "status", "stage", "progress"):
        table.add_column(column)
    for job in summary.jobs:
        bar_len = job["progress"] // 5
        bar = "█" * bar_len + "·" * (20 - bar_len)
        table.add_row(
            Path(job["source_path"]).name.split("-", 1)[-1],
            job["status"],
            job["stage"] or "",
            f"{bar} {job['progress']:3d}%",
        )
    return table


def _print_summary(
    console: Console, jobs: list[dict[str, Any]], out: Path, settings: Settings
) -> None:
    table = Table(title="What came out", show_edge=False, title_justify="left")
    for column in ("photo", "result", "variants (width x height, KB)", "time"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        name = Path(job["source_path"]).name.split("-", 1)[-1]
        if job["status"] != "succeeded":
            error = job.get("error") or {}
            table.add_row(name, f"[red]{job['status']}[/red]", error.get("code", ""), "")
            continue
        result = job["result"]
        largest_first = sorted(result["variants"].items(), key=lambda item: -item[1]["width"])
        variants = ", ".join(
            f"{n} {v['width']}x{v['height']} {v['bytes'] // 1024}" for n, v in largest_first
        )
        table.add_row(
            name,
            "[green]succeeded[/green]",
            variants,
            f"{result['metadata']['processing_time']} ms",
        )
    console.print(table)
    console.print(
        f"Outputs are in {out / settings.output_bucket} (<job id>/r<revision>/<variant>.<ext>); "
        "the throwaway database is gone."
    )
    if settings.remover == "none":
        console.print(
            "Background removal was off (no API4AI_API_KEY): cutouts kept their transparency and "
            "studio photos were processed as they are. Set API4AI_API_KEY to cut vehicles out."
        )
