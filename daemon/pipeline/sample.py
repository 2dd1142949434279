"""Crop, frame and the resize to output size as one resample of a window of the decoded image."""

from __future__ import annotations

import math

from PIL import Image

from daemon.domain.options import ProcessingOptions
from daemon.pipeline.crop import Box
from daemon.pipeline.cutout import Layers
from daemon.pipeline.layout import Layout
from daemon.pipeline.resample import REDUCING_GAP, RESAMPLE
from daemon.pipeline.shadow import ContactGeometry

# Lanczos reads this many source pixels on each side (scaled by the reduction factor).
_LANCZOS_SUPPORT = 3


def room_for_contact_shadow(layout: Layout, content: Box, options: ProcessingOptions) -> Layout:
    """Grow a tight canvas where the contact shadow would otherwise be clipped."""
    box = layout.to_canvas(content)
    width, height = layout.canvas_size
    geo = ContactGeometry.for_width(box[2] - box[0], options.shadow.blur)
    return layout.grown(
        max(0, geo.side - box[0]),
        0,
        max(0, box[2] + geo.side - width),
        max(0, box[3] + geo.below - height),
    )


def sample_window(layers: Layers, layout: Layout, content: Box | None = None) -> Image.Image:
    """Resample the layout's window of the image onto its canvas (transparent outside).

    With a transparent image and its `content` box, only the content (and the filter's reach
    around it) is cut out and resampled: the rest of the window is transparent anyway, and on a
    backdrop or with padding the window is far larger than the car (a 48 MP cutout's window can
    be the whole photo: 190 MB more to copy and resample for nothing).
    """
    ox, oy = layout.origin
    k = layout.scale
    size = layout.canvas_size
    # The window's part that lies on the image, in decoded and in canvas pixels.
    x0, y0 = max(0.0, ox), max(0.0, oy)
    width, height = layers.size
    x1 = min(float(width), ox + size[0] / k)
    y1 = min(float(height), oy + size[1] / k)
    if content is not None and layers.transparent:
        reach = math.ceil(_LANCZOS_SUPPORT / min(1.0, k)) + 1  # source px the filter reads
        x0, y0 = max(x0, float(content[0] - reach)), max(y0, float(content[1] - reach))
        x1, y1 = min(x1, float(content[2] + reach)), min(y1, float(content[3] + reach))
    cx0, cy0 = round((x0 - ox) * k), round((y0 - oy) * k)
    cx1, cy1 = min(size[0], round((x1 - ox) * k)), min(size[1], round((y1 - oy) * k))
    if cx1 <= cx0 or cy1 <= cy0:
        return Image.new("RGBA", size, (0, 0, 0, 0))
    target = (cx1 - cx0, cy1 - cy0)
    # Cut the window out first (whole pixels around it): resize converts RGBA to premultiplied
    # RGBa over the whole image it is given, and the window is often a third of the photo.
    ix0, iy0 = math.floor(x0), math.floor(y0)
    ix1, iy1 = math.ceil(x1), math.ceil(y1)
    box = (x0 - ix0, y0 - iy0, x1 - ix0, y1 - iy0)
    if target != (ix1 - ix0, iy1 - iy0) or box != (0.0, 0.0, float(ix1 - ix0), float(iy1 - iy0)):
        part = _resample(layers, (ix0, iy0, ix1, iy1), target, box)
    else:
        part = layers.crop((ix0, iy0, ix1, iy1))
    if (cx0, cy0) == (0, 0) and part.size == size:
        # The later steps draw on the canvas: never on the caller's decoded image.
        return part.copy() if part is layers.base else part
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.paste(part.convert("RGBA") if part.mode != "RGBA" else part, (cx0, cy0))
    return canvas


def _resample(
    layers: Layers, window: Box, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
    """The window resized as Image.resize would (premultiplied when it has alpha), but with the
    premultiplied copy made here, so the RGBA window is let go before the filter runs: at 48 MP
    that is 30 MB less while the photo is still held."""
    part = layers.crop(window)
    if part.mode != "RGBA":
        return part.resize(size, RESAMPLE, box=box, reducing_gap=REDUCING_GAP)
    part = part.convert("RGBa")
    part = part.resize(size, RESAMPLE, box=box, reducing_gap=REDUCING_GAP)
    return part.convert("RGBA")
