"""`python -m daemon enqueue FILE... [--vehicle-id ID] [--options JSON]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import anyio

from daemon.adapters.admin import enqueue_file
from daemon.adapters.factory import open_admin, open_backend
from daemon.app.settings import Settings, load_settings
from daemon.cli import CommandError
from daemon.domain.options import parse_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="original photos")
    parser.add_argument("--vehicle-id", help="groups the photos of one vehicle/listing")
    parser.add_argument("--options", default="{}", help="processing options as JSON")
    parser.add_argument("--priority", type=int, default=0, help="higher is claimed first")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise CommandError(f"No such file: {missing[0]}.")
    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--options is not valid JSON ({exc.msg}).") from None
    parse_options(options)  # refuse bad options here rather than in a failed job
    for job_id in anyio.run(
        _enqueue, settings, args.files, args.vehicle_id, options, args.priority
    ):
        print(job_id)
    return 0


async def _enqueue(
    settings: Settings,
    files: list[Path],
    vehicle_id: str | None,
    options: dict[str, object],
    priority: int,
) -> list[str]:
    # Only the store and the queue: queueing a photo needs no Realtime subscription.
    backend = await open_backend(settings, wakeups=False)
    try:
        admin = open_admin(settings)
        return [
            await enqueue_file(
                admin,
                backend.store,
                settings.source_bucket,
                file,
                vehicle_id=vehicle_id,
                options=options,
                priority=priority,
            )
            for file in files
        ]
    finally:
        await backend.aclose()
