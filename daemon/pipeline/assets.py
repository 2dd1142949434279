"""Backdrops and logos: decoded once, shared by every job that names them, resized once per size.

The pipeline receives them decoded (no I/O here); `daemon.lifecycle.assets` fetches them through the
object store and keeps them while they are unchanged.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from PIL import Image

from daemon.domain.errors import ImageTooLarge, InvalidOptions, ProcessingError
from daemon.pipeline.guard import Limits, open_image
from daemon.pipeline.resample import REDUCING_GAP, RESAMPLE

# Sizes kept per asset: one per canvas (or variant) size in use; a few cover every preset.
SIZES_KEPT = 4


@dataclass
class Asset:
    """A decoded image and its resized copies (thread-safe: jobs share it)."""

    path: str
    image: Image.Image  # RGB for a backdrop, RGBA for a logo
    _sized: OrderedDict[tuple[int, int], Image.Image] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def pixels(self) -> int:
        """What it holds in memory, decoded, counting its resized copies."""
        with self._lock:
            return self.image.width * self.image.height + sum(
                im.width * im.height for im in self._sized.values()
            )

    def resized(self, size: tuple[int, int]) -> Image.Image:
        """The image at `size`, resampled once from the original (never from another copy).

        Callers must not draw on it: it is shared.
        """
        if size == self.image.size:
            return self.image
        with self._lock:
            found = self._sized.get(size)
            if found is not None:
                self._sized.move_to_end(size)
                return found
        # Outside the lock: two jobs may both resize once; neither waits behind the other.
        made = self.image.resize(size, RESAMPLE, reducing_gap=REDUCING_GAP)
        with self._lock:
            self._sized[size] = made
            while len(self._sized) > SIZES_KEPT:
                self._sized.popitem(last=False)
        return made


@dataclass(frozen=True)
class Assets:
    """The assets one job's options name."""

    backdrop: Asset | None = None
    logo: Asset | None = None


def decode_asset(data: bytes, path: str, role: str, limits: Limits) -> Asset:
    """Guard and decode a backdrop (`role` "backdrop": RGB) or a logo ("logo": RGBA).

    An image too large for the limits is image_too_large, as an original would be; anything
    that is not a readable image is invalid_options naming the path (the options are wrong).
    """
    try:
        image = open_image(data, limits)
        image.load()
        converted = image.convert("RGB" if role == "backdrop" else "RGBA")
    except ImageTooLarge as exc:
        raise ImageTooLarge(f"The {role} '{path}' is too large: {exc.message}") from None
    except ProcessingError as exc:
        raise InvalidOptions(f"The {role} '{path}' is not a usable image: {exc.message}") from None
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"The {role} '{path}' decodes to too many pixels.") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidOptions(
            f"The {role} '{path}' is not a readable image ({type(exc).__name__})."
        ) from None
    return Asset(path=path, image=converted)
