"""Worker ids: fresh at every process start, never reused (a reused id lets a restarted worker
mistake an old claim for its own)."""

from __future__ import annotations

import os
import secrets
import socket


def new_worker_id() -> str:
    host = os.environ.get("FLY_MACHINE_ID") or socket.gethostname() or "worker"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"
