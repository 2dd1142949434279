"""Run the Supabase double on its own:

    python -m tests.doubles.supabase --dsn DSN --storage-dir DIR [--port N]
        [--user EMAIL:PASSWORD[:admin]]...

Prints one JSON line with the URL and the keys, then serves until SIGINT or SIGTERM. The
database must have the daemon's migrations applied (`python -m daemon migrate`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from tests.doubles.supabase.server import SupabaseDouble


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.doubles.supabase", description=__doc__)
    parser.add_argument("--dsn", required=True, help="PostgreSQL URL with the migrations applied")
    parser.add_argument("--storage-dir", type=Path, required=True, help="folder for the buckets")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="EMAIL:PASSWORD[:admin]",
        help="a user who can sign in (the console's); ':admin' makes a processing admin",
    )
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with SupabaseDouble(args.dsn, args.storage_dir, port=args.port) as double:
        for spec in args.user:
            admin = spec.endswith(":admin")
            email, _, password = spec.removesuffix(":admin").partition(":")
            double.add_user(email, password, admin=admin)
        info = {
            "url": double.url,
            "service_key": double.service_key,
            "anon_key": double.anon_key,
            "admin_token": double.admin_token,
            "storage_dir": str(double.storage_dir),
        }
        print(json.dumps(info), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
