"""The shadow step, at output resolution.

`contact` (the default) grounds a car: a soft ambient ellipse under the body, the alpha's footprint
squashed flat, and a darker contact line where the tyres touch the ground. It is computed only in a
band around the ground line and fades to nothing before the band's edge, so it never shows a
clipping edge. `drop` is an offset, blurred copy of the silhouette, as in the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from daemon.pipeline.crop import Box, content_box

# Beyond this many sigmas a Gaussian tail is below 1/255 at our opacities: invisible.
_TAIL = 2.5
# A blur this wide (in reduced pixels) hides any trace of the reduction it was computed at.
_BLUR_DETAIL = 4.0


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


def contact_room(width: int, blur: float | None) -> int:
    """Rows of canvas a contact shadow needs below the wheels of a vehicle `width` px wide."""
    return ContactGeometry.for_width(width, blur).below


def add_contact_shadow(
    canvas: Image.Image, content: Box, opacity: float, blur: float | None = None
) -> Image.Image:
    """Composite a contact shadow under the content (ground line = the content's bottom)."""
    left, top, right, bottom = content
    width = right - left
    if width <= 0 or bottom <= top or opacity <= 0:
        return canvas
    geo = ContactGeometry.for_width(width, blur)
    band = (
        max(0, left - geo.side),
        max(0, bottom - geo.above),
        min(canvas.width, right + geo.side),
        min(canvas.height, bottom + geo.below),
    )
    bw, bh = band[2] - band[0], band[3] - band[1]
    if bw <= 0 or bh <= 0:
        return canvas
    ground = bottom - band[1]  # ground line inside the band
    x0 = left - band[0]
    alpha = canvas.getchannel("A")

    ambient = _ellipse(
        bw,
        bh,
        x0 + width / 2,
        ground - geo.ellipse_half_height * 0.3,
        width * 0.5,
        geo.ellipse_half_height,
        geo.ambient_blur,
    )
    footprint = _footprint(alpha, content, band, ground, geo)
    line = _contact_line(alpha, content, band, ground, geo)

    # Screen the three layers: each darkens what the others left. The contact line is darker
    # than the opacity alone would make it: that is where the tyre meets the floor.
    soft = 1.0 - (1.0 - 0.55 * opacity * ambient) * (1.0 - 0.75 * opacity * footprint)
    shade = 1.0 - (1.0 - soft) * (1.0 - min(1.0, 1.6 * opacity) * line)
    shade *= _fade(bh, ground)
    shadow_alpha = np.clip(shade * 255.0, 0, 255).astype(np.uint8)

    shadow = Image.new("RGBA", (bw, bh), (0, 0, 0, 0))
    shadow.putalpha(Image.fromarray(shadow_alpha, "L"))
    out = canvas.copy() if canvas.readonly else canvas
    out.paste(Image.alpha_composite(shadow, canvas.crop(band)), band[:2])
    return out


def _ellipse(w: int, h: int, cx: float, cy: float, rx: float, ry: float, blur: float) -> np.ndarray:
    ys, xs = np.ogrid[0:h, 0:w]
    inside = ((xs - cx) / max(rx, 1.0)) ** 2 + ((ys - cy) / max(ry, 1.0)) ** 2 <= 1.0
    return _blur(inside.astype(np.float32), blur)


def _footprint(
    alpha: Image.Image, content: Box, band: Box, ground: int, geo: ContactGeometry
) -> np.ndarray:
    """The silhouette squashed flat onto the ground: column coverage, a few pixels tall."""
    left, _top, right, _bottom = content
    bw, bh = band[2] - band[0], band[3] - band[1]
    height = max(1, round(geo.ellipse_half_height * 0.6))
    flat = alpha.crop(content).resize((right - left, height), Image.Resampling.BOX)
    layer = np.zeros((bh, bw), np.float32)
    y0 = max(0, ground - height // 2)
    y1 = min(bh, y0 + height)
    x0 = left - band[0]
    layer[y0:y1, x0 : x0 + flat.width] = np.asarray(flat, np.float32)[: y1 - y0] / 255.0
    return _blur(layer, geo.blur)


def _contact_line(
    alpha: Image.Image, content: Box, band: Box, ground: int, geo: ContactGeometry
) -> np.ndarray:
    """Where the tyres touch: the bottom rows of the alpha, projected onto a thin dark line."""
    left, top, right, bottom = content
    bw, bh = band[2] - band[0], band[3] - band[1]
    rows = max(2, round(geo.line_height * 3))
    tyres = np.asarray(alpha.crop((left, max(top, bottom - rows), right, bottom)), np.float32)
    coverage = tyres.max(axis=0) / 255.0
    layer = np.zeros((bh, bw), np.float32)
    line_h = max(1, round(geo.line_height))
    # Mostly below the ground line: above it the tyre hides the line anyway.
    y0 = max(0, ground - max(1, line_h // 2))
    y1 = min(bh, ground + line_h)
    x0 = left - band[0]
    layer[y0:y1, x0 : x0 + coverage.shape[0]] = coverage
    return _blur(layer, max(0.8, geo.line_height * 0.8))


def _fade(height: int, ground: int) -> np.ndarray:
    """1 down to the ground line, then a smooth fall to 0 at the band's last row."""
    rows = np.ones((height, 1), np.float32)
    span = height - ground
    if span > 1:
        t = np.linspace(0.0, 1.0, span, dtype=np.float32)
        rows[ground:, 0] = 1.0 - t * t * (3.0 - 2.0 * t)  # smoothstep down
    return rows


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
