"""Give freed image memory back to the system (glibc only; a no-op elsewhere).

Decoded photos are hundreds of megabytes, freed from whichever pipeline thread held them. glibc
keeps freed memory in per-thread arenas (up to 8 per core), so without these two calls a worker's
resident memory grows with the number of threads that ever decoded a large image, even though the
pixel budget keeps the pixels in flight bounded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_ARENA_MAX = -8  # from glibc's malloc.h

_libc: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.mallopt  # noqa: B018 - glibc, not musl: both symbols must exist
        _libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        _libc = None


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Share a few malloc arenas between all threads; call once at start-up."""
    if _libc is not None:
        _libc.mallopt(M_ARENA_MAX, arenas)


def release_free_memory() -> None:
    """Return freed heap memory to the system; call after a large image is done with."""
    if _libc is not None:
        _libc.malloc_trim(0)
