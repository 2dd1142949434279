"""SIGTERM and SIGINT before the service's own handlers: remembered, then a clean exit (0).

Python's default SIGTERM handler kills the process (status -15), and the service only installs
its handlers once its event loop runs; a deploy may stop a machine the moment it started, while
the daemon is still importing, reading its settings or connecting. `install()` runs first thing
in `python -m daemon run`; the service reads `requested()` once its own handlers are in place,
and stops before claiming anything. Signal dispositions belong to the process, hence the module
state.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

__all__ = ["SIGNALS", "install", "requested"]

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_received: list[int] = []


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _received:
        os._exit(1)  # a second signal: exit at once, as once running
    _received.append(signum)


def install() -> None:
    """Remember SIGTERM and SIGINT from now on instead of dying of them; harmless to repeat."""
    for signum in SIGNALS:
        signal.signal(signum, _on_signal)


def requested() -> str | None:
    """The name of the signal received before the service took over, if any."""
    return signal.Signals(_received[0]).name if _received else None
