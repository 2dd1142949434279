"""How the pipeline resamples: Lanczos, after a box reduction by whole factors only where
Lanczos is still left REDUCING_GAP times of the reduction to do.

A box reduction is fast but a poor low-pass filter: what it lets through folds back as moiré on
fine regular detail, a grille, a mesh, a wheel's spokes. Measured on a drawn grille reduced
4.2 times: after a box reduction down to 1x the target (gap 1.0) it shows strong false stripes,
at 2.0 faint ones, at 3.0 none (Pillow's docs: indistinguishable from plain Lanczos).
"""

from __future__ import annotations

import math

from PIL import Image

RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 3.0
# Output pixels a Lanczos resize reads around a source pixel (its support, 3 px at the output's
# scale when reducing), plus two for the box reduction and rounding.
REACH = 3 + 2


def resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A good-quality resize (no-op when the size already matches)."""
    if image.size == size:
        return image
    return image.resize(size, RESAMPLE, reducing_gap=REDUCING_GAP)


def resize_window(
    image: Image.Image, window: tuple[float, float, float, float], size: tuple[int, int]
) -> Image.Image:
    """`window` of `image` resized to `size`, pixel for pixel what resizing the whole image
    gives there. Pillow's own box reduction would bin from the window's corner, not from the
    image's: here the reduction is made on a crop aligned to whole blocks of the image."""
    fx = max(1, int((window[2] - window[0]) / size[0] / REDUCING_GAP))
    fy = max(1, int((window[3] - window[1]) / size[1] / REDUCING_GAP))
    if fx == fy == 1:
        return image.resize(size, RESAMPLE, box=window)
    # Source pixels the filter reads beyond the window, then outward to whole blocks.
    reach_x = (REACH + 1) * (window[2] - window[0]) / size[0]
    reach_y = (REACH + 1) * (window[3] - window[1]) / size[1]
    left = max(0, math.floor(window[0] - reach_x)) // fx * fx
    top = max(0, math.floor(window[1] - reach_y)) // fy * fy
    right = min(image.width, math.ceil(window[2] + reach_x))
    bottom = min(image.height, math.ceil(window[3] + reach_y))
    reduced = image.reduce((fx, fy), box=(left, top, right, bottom))
    box = (
        (window[0] - left) / fx,
        (window[1] - top) / fy,
        (window[2] - left) / fx,
        (window[3] - top) / fy,
    )
    return reduced.resize(size, RESAMPLE, box=box)


def box_factor(long_edge: int, need: int) -> int:
    """How many times a decoded image `long_edge` px long may be box-reduced when `need` px
    are to be kept (see decode.needed_long_edge): the resample of its crop window after it is
    then still left REDUCING_GAP times to do, as every other resample here."""
    return max(1, int(long_edge / (need * REDUCING_GAP)))
