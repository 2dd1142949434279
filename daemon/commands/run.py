"""`python -m daemon run`: consume jobs until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse

import anyio

from daemon.app import early_stop
from daemon.app.logs import setup_logging
from daemon.app.settings import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "With SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY it uses Supabase; with DATABASE_URL "
        "alone, Postgres directly and the folder STORAGE_DIR. Settings come from the "
        "environment and .env."
    )


def run(args: argparse.Namespace) -> int:
    early_stop.install()  # done already by `python -m daemon run`; not by the console script
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    from daemon.app.service import serve

    return anyio.run(serve, settings)
