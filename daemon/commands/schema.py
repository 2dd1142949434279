"""`python -m daemon schema`: the options JSON Schema, for the admin UI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from daemon.cli import CommandError
from daemon.domain.options import options_json_schema


def schema_text() -> str:
    """The schema as committed in docs/options.schema.json (stable key order, final newline)."""
    return json.dumps(options_json_schema(), indent=2, ensure_ascii=False) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, help="write to this file (default: standard output)", metavar="FILE"
    )


def run(args: argparse.Namespace) -> int:
    text = schema_text()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot write {args.out}: {exc.strerror or exc}.") from None
    return 0
