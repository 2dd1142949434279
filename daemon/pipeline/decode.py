"""Decode, orient and colour-manage: bytes in, an upright sRGB image no larger than needed out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PIL import Image

from daemon.domain.errors import CorruptImage, ImageTooLarge
from daemon.domain.options import ProcessingOptions
from daemon.pipeline.colour import drop_opaque_alpha, to_srgb
from daemon.pipeline.guard import ImageInfo, Limits, open_image
from daemon.pipeline.resample import box_factor

# Decode at least this much larger than the largest output, so a crop to the vehicle still has
# enough pixels for the master (a car usually spans well over two thirds of the frame).
CROP_HEADROOM = 1.5
# EXIF orientations that swap width and height.
_TRANSPOSED = frozenset({5, 6, 7, 8})
# What turns a stored image upright, per EXIF orientation (as ImageOps.exif_transpose does).
_UPRIGHT: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass
class Source:
    """What decode_source returns: the image the rest of the pipeline works on."""

    image: Image.Image  # RGB or RGBA, sRGB, EXIF-oriented, possibly reduced on load
    original_size: tuple[int, int]  # of the upright original, before any reduction
    info: ImageInfo = field(default_factory=lambda: ImageInfo(0, 0, ""))
    alpha: Image.Image | None = None  # an RGBA image's alpha channel, until the crop has read it

    @property
    def scale(self) -> tuple[float, float]:
        """Original pixels per decoded pixel, per axis (1.0 when not reduced)."""
        return (
            self.original_size[0] / self.image.width,
            self.original_size[1] / self.image.height,
        )

    @property
    def has_alpha(self) -> bool:
        """Whether the decoded image carries transparency."""
        return self.image.mode == "RGBA"


def needed_long_edge(options: ProcessingOptions) -> int | None:
    """The long edge the decode must keep, or None when some variant is unbounded."""
    longest = max(max(v.bounding_box) for v in options.variants)
    if longest >= 16384:
        return None
    return math.ceil(longest * CROP_HEADROOM)


def decode_source(data: bytes, options: ProcessingOptions, limits: Limits) -> Source:
    """Guard, decode (reduced on load), orient and convert to sRGB."""
    image = open_image(data, limits)
    info = ImageInfo(image.width, image.height, str(image.format))
    orientation = _orientation(image)
    stored = image.size
    original = (stored[1], stored[0]) if orientation in _TRANSPOSED else stored
    need = needed_long_edge(options)
    try:
        if need is not None and image.format in ("JPEG", "MPO"):
            _draft(image, need)
        image.load()
        image = _reduce(image, need)
        image = to_srgb(image)
        if orientation is not None and orientation in _UPRIGHT:
            # By the value read above: colour conversion may have dropped the EXIF block.
            image = image.transpose(_UPRIGHT[orientation])
        image, alpha = drop_opaque_alpha(image)
    except Image.DecompressionBombError:
        raise ImageTooLarge(
            "The image decodes to too many pixels; upload a smaller photo."
        ) from None
    except MemoryError:
        raise ImageTooLarge(
            "The image needs more memory than this worker has; upload a smaller photo."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as exc:
        raise CorruptImage(
            f"The image data is truncated or damaged ({_reason(exc)}); upload the photo again."
        ) from None
    return Source(image=image, original_size=original, info=info, alpha=alpha)


def _orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(0x0112)
    except (OSError, ValueError, SyntaxError):
        return None  # a broken EXIF block: treat as upright rather than refuse the photo
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _draft(image: Image.Image, need: int) -> None:
    """JPEG scale-on-load (1/2, 1/4, 1/8 in the DCT domain): the cheapest resize there is.

    Its low-pass works block by block, so detail near the pixel pitch can keep a slight moiré
    (as with sharp's fastShrinkOnLoad, on by default there too); a full decode of a 48 MP JPEG
    would take twice the time and 144 MB more (tests/unit/pipeline/test_resample.py).
    """
    scale = need / max(image.size)
    if scale >= 0.5:
        return
    requested = (max(1, math.ceil(image.width * scale)), max(1, math.ceil(image.height * scale)))
    image.draft(None, requested)


def _reduce(image: Image.Image, need: int | None) -> Image.Image:
    """Box-reduce an opaque image by an integer factor when far larger than needed: only as far
    as the resample of its window after it is still left REDUCING_GAP times (resample.py), so a
    grille does not turn to moiré. A 48 MP photo is not reduced for a 2560 px master.

    Not for images with alpha: Pillow reduces those premultiplied, through a full-size copy (a
    48 MP cutout would need 400 MB). Their crop window is cut out first instead (sample.py).
    """
    if need is None:
        return image
    factor = box_factor(max(image.size), need)
    if factor < 2 or image.mode not in ("RGB", "L", "CMYK"):
        return image
    return image.reduce(factor)


def _reason(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0].strip()
    return text[:80] if text else type(exc).__name__
