"""Give the memory of a large image back to the system once it is done (glibc only).

Decoded photos are hundreds of megabytes, freed from whichever pipeline thread held them. glibc
keeps freed heap memory in its per-thread arenas, so without a trim a worker's resident memory
grows with the number of threads that ever decoded a large image, even though the pixel budget
keeps the pixels in flight bounded.

A trim takes the arenas' locks, so it is only worth it after a large image: trimming after every
photo, or capping the arenas, serialised the pipeline threads and halved throughput
(bench/throughput.py, measured side by side).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# Below this many pixels an image's buffers are small enough to be reused as they are.
LARGE_IMAGE_PIXELS = 16_000_000

_libc: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.malloc_trim  # noqa: B018 - glibc has it, musl does not
    except (OSError, AttributeError):
        _libc = None


def release_after(pixels: int) -> None:
    """Return freed heap memory to the system after an image of `pixels` pixels, if large."""
    if _libc is not None and pixels >= LARGE_IMAGE_PIXELS:
        _libc.malloc_trim(0)
