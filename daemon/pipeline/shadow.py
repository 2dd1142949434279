"""The shadow step, at output resolution.

`contact` (the default) grounds a car in any view: ground.py finds where it meets the ground (the
tyres' contact points; in a 3/4 view the far ones stand higher in the picture), and the shadow
follows that ground: a soft ambient shade under the body, a denser one where the body is close to
the ground, and a dark contact where a tyre touches it. It is computed only in a band around the
ground line and fades to nothing before the band's edge, so it never shows a clipping edge.
`drop` is an offset, blurred copy of the silhouette, as in the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from daemon.pipeline.crop import Box, content_box
from daemon.pipeline.ground import Ground, find_ground

# Beyond this many sigmas a Gaussian tail is below 1/255 at our opacities: invisible.
_TAIL = 2.5
# A blur this wide (in reduced pixels) hides any trace of the reduction it was computed at.
_BLUR_DETAIL = 4.0
# The contact shadow of a car wide enough is computed at 1/_STEP of its size (contact_shadow).
_STEP = 2


@dataclass(frozen=True)
class ContactGeometry:
    """Sizes of the contact shadow for a vehicle `width` pixels wide."""

    blur: float  # the footprint's blur radius
    ambient_blur: float
    ellipse_half_height: float
    line_height: float

    @classmethod
    def for_width(cls, width: int, blur: float | None) -> ContactGeometry:
        base = blur if blur is not None else max(1.5, 0.008 * width)
        return cls(
            blur=base,
            ambient_blur=max(2.0, base * 2.2),
            ellipse_half_height=max(2.0, 0.022 * width),
            line_height=max(1.0, 0.005 * width),
        )

    @property
    def below(self) -> int:
        """Rows the shadow needs below the ground line."""
        return math.ceil(self.ellipse_half_height * 0.7 + _TAIL * self.ambient_blur) + 1

    @property
    def above(self) -> int:
        """Rows the shadow reaches above the ground line (hidden behind the car mostly)."""
        return math.ceil(self.ellipse_half_height * 1.3 + _TAIL * self.ambient_blur) + 1

    @property
    def side(self) -> int:
        """Columns the shadow reaches beyond the vehicle on each side."""
        return math.ceil(_TAIL * self.ambient_blur) + 1


def add_contact_shadow(
    canvas: Image.Image,
    content: Box,
    opacity: float,
    blur: float | None = None,
    *,
    ground: Ground | None = None,
) -> Image.Image:
    """Composite a contact shadow along the ground under the content (see ground.py).

    `ground` defaults to the one found in the canvas's alpha; without a ground (nothing solid)
    the canvas comes back unchanged.
    """
    left, top, right, bottom = content
    width = right - left
    if width <= 0 or bottom <= top or opacity <= 0:
        return canvas
    if ground is None:
        ground = find_ground(canvas.getchannel("A"), content)
        if ground is None:
            return canvas
    shadow, origin = contact_shadow(ground, width, canvas.size, opacity, blur)
    if shadow is None:
        return canvas
    band = (*origin, origin[0] + shadow.width, origin[1] + shadow.height)
    out = canvas.copy() if canvas.readonly else canvas
    out.paste(Image.alpha_composite(shadow, canvas.crop(band)), band[:2])
    return out


def contact_shadow(
    ground: Ground,
    width: int,
    size: tuple[int, int],
    opacity: float,
    blur: float | None = None,
) -> tuple[Image.Image | None, tuple[int, int]]:
    """The shadow of a subject `width` px wide on `ground`: a black RGBA layer and its origin.

    Three layers, each a band that follows the ground line: a wide ambient shade under the whole
    car, a denser one where the body is close to the ground, and a dark contact where a tyre
    touches it. Each column is shaded by how far the silhouette hangs above the ground there, so
    a bumper in the air casts (almost) nothing and a far tyre higher in the picture is grounded
    like a near one. Everything fades out before the band's edge: no clipping line.
    """
    geo = ContactGeometry.for_width(width, blur)
    band = (
        max(0, ground.left - geo.side),
        max(0, math.floor(ground.highest) - geo.above),
        min(size[0], ground.right + geo.side),
        min(size[1], math.ceil(ground.lowest) + geo.below),
    )
    bw, bh = band[2] - band[0], band[3] - band[1]
    if bw <= 0 or bh <= 0:
        return None, (0, 0)
    # Per band column: the ground row (band coordinates) and the gap above it.
    x0 = ground.left - band[0]
    line = np.empty(bw, np.float32)
    gap = np.full(bw, np.inf, np.float32)
    line[x0 : x0 + len(ground.line)] = ground.line - band[1]
    line[:x0] = line[x0]
    line[x0 + len(ground.line) :] = line[x0 + len(ground.line) - 1]
    gap[x0 : x0 + len(ground.line)] = ground.gap()
    # Every layer is smooth, and the thinnest (the contact line) is a few pixels high on a car
    # this wide: it is computed at 1/step of the band's size and scaled up once.
    step = _STEP if geo.line_height >= 2 * _STEP and min(bw, bh) >= 16 * _STEP else 1
    columns = (np.arange(-(-bw // step), dtype=np.float32) + 0.5) * step - 0.5
    rows = (np.arange(-(-bh // step), dtype=np.float32) + 0.5) * step - 0.5
    line = np.interp(columns, np.arange(bw), line).astype(np.float32)
    # A pixel of the small grid is as close to the ground as the closest column it covers.
    gap = np.minimum.reduceat(gap, np.arange(0, bw, step)) if step > 1 else gap
    below = rows[:, None] - line[None, :]  # band rows below the ground line (negative above)

    # The ambient shade: an ellipse-like spread over the car's length, weaker where the body is
    # high above the ground.
    centre = (ground.left + ground.right) / 2 - band[0]
    half = max(1.0, width * 0.55)
    spread = np.sqrt(np.clip(1.0 - ((columns - centre) / half) ** 2, 0.0, 1.0))
    reach = np.where(np.isinf(gap), 0.0, np.exp(-np.minimum(gap, 1e6) / (0.15 * width)))
    ambient = _band(below, -geo.ellipse_half_height, 0.7 * geo.ellipse_half_height, step)
    ambient = _blur(ambient * (spread * reach)[None, :], geo.ambient_blur / step)
    # Where the body is close to the ground (sills, tyres): denser, tighter.
    near = np.where(np.isinf(gap), 0.0, np.exp(-np.minimum(gap, 1e6) / (0.04 * width)))
    height = max(1.0, geo.ellipse_half_height * 0.6)
    footprint = _blur(_band(below, -height, 0.5 * height, step) * near[None, :], geo.blur / step)
    # The contact: where a tyre meets the ground (gap about 0), a thin dark line.
    touch = np.clip(1.0 - gap / max(2.0, 0.006 * width), 0.0, 1.0) ** 2
    line_h = max(1.0, geo.line_height)
    contact = _band(below, -max(1.0, line_h / 2), line_h, step) * touch[None, :]
    contact = _blur(contact, max(0.8, geo.line_height * 0.8) / step)

    # Screen the three layers: each darkens what the others left. The contact is darker than
    # the opacity alone would make it: that is where the tyre meets the floor.
    soft = 1.0 - (1.0 - 0.55 * opacity * ambient) * (1.0 - 0.75 * opacity * footprint)
    shade = 1.0 - (1.0 - soft) * (1.0 - min(1.0, 1.6 * opacity) * contact)
    # Fade below the ground, column by column, to nothing at the band's last row.
    room = np.maximum(1.0, (bh - 1) - line)[None, :]
    t = np.clip(below / room, 0.0, 1.0)
    shade *= 1.0 - t * t * (3.0 - 2.0 * t)
    shadow_alpha = Image.fromarray(np.clip(shade * 255.0, 0, 255).astype(np.uint8), "L")
    if step > 1:
        # The grid's samples are `step` px apart from the band's corner, also where the band's
        # size is odd: the last one stands partly beyond it.
        shadow_alpha = shadow_alpha.resize(
            (bw, bh), Image.Resampling.BILINEAR, box=(0, 0, bw / step, bh / step)
        )
    shadow = Image.new("RGBA", (bw, bh), (0, 0, 0, 0))
    shadow.putalpha(shadow_alpha)
    return shadow, (band[0], band[1])


def _band(below: np.ndarray, start: float, end: float, step: int = 1) -> np.ndarray:
    """1 where start <= rows below the ground line <= end, else 0 (float32).

    On a grid of every `step`-th row, each sample is the share of its `step` rows that lies in
    the band: a thin band sampled on whole rows would be 2 rows high in one column and 1 in the
    next as the ground line slants, a ripple along the contact line.
    """
    if step == 1:
        return ((below >= start) & (below <= end)).astype(np.float32)
    half = step / 2
    inside = np.minimum(below + half, end) - np.maximum(below - half, start)
    return np.clip(inside / step, 0.0, 1.0).astype(np.float32)


def _blur(layer: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur; a wide one is done at a reduced size (same look, a fraction of the cost)."""
    if radius <= 0:
        return layer
    image = Image.fromarray(np.clip(layer * 255.0, 0, 255).astype(np.uint8), "L")
    factor = int(radius // _BLUR_DETAIL)
    if factor >= 2 and min(image.size) >= 4 * factor:
        small = image.reduce(factor).filter(ImageFilter.GaussianBlur(radius / factor))
        blurred = small.resize(image.size, Image.Resampling.BILINEAR)
    else:
        blurred = image.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(blurred, np.float32) / 255.0


def drop_geometry(
    width: int, blur: float | None, offset: list[int] | None
) -> tuple[float, int, int]:
    """Blur radius and (dx, dy) offset of a drop shadow for a vehicle `width` px wide."""
    radius = blur if blur is not None else max(2.0, 0.01 * width)
    if offset is not None:
        dx, dy = offset
    else:
        dx = dy = max(4, round(0.012 * width))
    return radius, dx, dy


def add_drop_shadow_at(
    canvas: Image.Image,
    opacity: float = 0.5,
    blur: float | None = None,
    offset: list[int] | None = None,
    width: int | None = None,
) -> tuple[Image.Image, tuple[int, int]]:
    """An offset, blurred copy of the silhouette behind the image, on a canvas grown to hold it.

    Returns the new canvas and where the original's top-left now sits in it.
    """
    rgba = canvas if canvas.mode == "RGBA" else canvas.convert("RGBA")
    box = content_box(rgba)
    subject_width = width if width is not None else (box[2] - box[0] if box else rgba.width)
    radius, dx, dy = drop_geometry(subject_width, blur, offset)
    margin = math.ceil(_TAIL * radius) + 1
    origin = (margin + max(0, -dx), margin + max(0, -dy))
    size = (rgba.width + 2 * margin + abs(dx), rgba.height + 2 * margin + abs(dy))
    silhouette = rgba.getchannel("A").point(lambda a: round(a * opacity))
    shadow_alpha = Image.new("L", size, 0)
    shadow_alpha.paste(silhouette, (origin[0] + dx, origin[1] + dy))
    shadow_alpha = shadow_alpha.filter(ImageFilter.GaussianBlur(radius))
    out = Image.new("RGBA", size, (0, 0, 0, 0))
    out.putalpha(shadow_alpha)
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste(rgba, origin)
    return Image.alpha_composite(out, layer), origin


def add_drop_shadow(image: Image.Image) -> Image.Image:
    """An offset, blurred shadow behind the image; the canvas grows to hold it (contract s.8)."""
    return add_drop_shadow_at(image)[0]
