"""The command line (CONTRACT.md section 7): one module per command in `daemon.commands`.

Each command module has `add_arguments(parser)` and `run(args) -> int`. Errors that a person can act
on are printed as one line; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from daemon.domain.errors import DaemonError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("daemon.commands.run", "consume jobs until SIGTERM or SIGINT"),
    "process": ("daemon.commands.process", "run the pipeline on local files, no database"),
    "demo": ("daemon.commands.demo", "the whole system on this machine with nothing configured"),
    "migrate": ("daemon.commands.migrate", "apply the SQL migrations"),
    "enqueue": (
        "daemon.commands.enqueue",
        "upload files to the source bucket and queue a job each",
    ),
    "status": ("daemon.commands.status", "the queue at a glance"),
    "schema": ("daemon.commands.schema", "write the options JSON Schema for the admin UI"),
    "console": ("daemon.commands.console", "serve the admin console on this machine"),
}


class CommandError(Exception):
    """A command cannot go on; the message is one sentence for the person at the terminal."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that command's module is imported (a faster start-up)."""
    parser = argparse.ArgumentParser(
        prog="python -m daemon",
        description="Vehicle photo processing daemon for Supabase.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
            command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
    try:
        return int(args._run(args))
    except (DaemonError, CommandError) as exc:  # each is one sentence for the operator
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
