"""Where the output canvas sits on the decoded image: the tight crop or the fixed-aspect frame.

A `Layout` is a window onto the decoded image (origin and size in decoded pixels) and the scale at
which it is rendered, so crop, frame and the resize to output resolution are one resample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from daemon.domain.options import FrameOptions, ProcessingOptions, VariantSpec
from daemon.pipeline.crop import Box, padded_box

# In a frame, the roof stays at least this share of the canvas height below the top edge.
FRAME_TOP_MARGIN = 0.03


@dataclass(frozen=True)
class Layout:
    """A window (decoded pixels, floats) onto the image, rendered at `scale` output px per px."""

    origin: tuple[float, float]
    size: tuple[float, float]
    scale: float

    @property
    def canvas_size(self) -> tuple[int, int]:
        """The rendered canvas, in output pixels."""
        return (
            max(1, round(self.size[0] * self.scale)),
            max(1, round(self.size[1] * self.scale)),
        )

    def to_canvas(self, box: Box) -> Box:
        """A box in decoded pixels, in canvas pixels."""
        ox, oy = self.origin
        k = self.scale
        return (
            math.floor((box[0] - ox) * k),
            math.floor((box[1] - oy) * k),
            math.ceil((box[2] - ox) * k),
            math.ceil((box[3] - oy) * k),
        )

    def grown(self, left: int, top: int, right: int, bottom: int) -> Layout:
        """The same window with canvas pixels added on each side (room for a shadow)."""
        k = self.scale
        return Layout(
            origin=(self.origin[0] - left / k, self.origin[1] - top / k),
            size=(self.size[0] + (left + right) / k, self.size[1] + (top + bottom) / k),
            scale=k,
        )


def tight_window(
    image_size: tuple[int, int], content: Box | None, options: ProcessingOptions
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The padded content box (or the whole image), as origin and size."""
    if content is None or not options.auto_crop:
        return (0.0, 0.0), (float(image_size[0]), float(image_size[1]))
    box = padded_box(content, image_size, options.padding_percent, options.min_padding)
    return (float(box[0]), float(box[1])), (float(box[2] - box[0]), float(box[3] - box[1]))


def frame_window(
    content: Box, ratio: float, subject_width: float, ground: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """A canvas of aspect `ratio` (W/H): vehicle width = subject_width, wheels on the ground line.

    A tall vehicle that would reach above the top margin is scaled down until it fits, so the
    wheels stay on the line and the roof stays inside.
    """
    left, top, right, bottom = content
    cw, ch = right - left, bottom - top
    width = cw / subject_width
    height = width / ratio
    room = ground - FRAME_TOP_MARGIN
    if room > 0 and ch > room * height:
        height = ch / room
        width = height * ratio
    origin = (left - (width - cw) / 2.0, bottom - ground * height)
    return origin, (width, height)


def variant_scale(spec: VariantSpec, size: tuple[float, float]) -> float:
    """Output px per canvas px for one variant (bounded variants never scale up)."""
    w, h = size
    if spec.width is not None and spec.height is not None:
        fit = min if spec.fit == "contain" else max
        return fit(spec.width / w, spec.height / h)
    bound_w = spec.max_width or 16384
    bound_h = spec.max_height or 16384
    return min(1.0, bound_w / w, bound_h / h)


def _unbounded_scale(spec: VariantSpec, size: tuple[float, float]) -> float:
    """Output px per canvas px for one variant, allowed to scale up."""
    w, h = size
    if spec.width is not None and spec.height is not None:
        fit = min if spec.fit == "contain" else max
        return fit(spec.width / w, spec.height / h)
    return min((spec.max_width or 16384) / w, (spec.max_height or 16384) / h)


def render_scale(variants: list[VariantSpec], size: tuple[float, float]) -> float:
    """The scale the canvas is rendered at: what the largest variant needs, never above 1."""
    return min(1.0, max(variant_scale(v, size) for v in variants))


def plan_layout(
    image_size: tuple[int, int],
    content: Box | None,
    options: ProcessingOptions,
    backdrop_size: tuple[int, int] | None = None,
) -> Layout:
    """Crop, frame or backdrop, and the render scale, for this image and these options.

    On a backdrop the canvas has the backdrop's aspect, the vehicle spans frame.subject_width
    of it with its wheels on the floor line, and the canvas is never larger than the backdrop.
    """
    frame = options.frame
    if backdrop_size is not None and options.backdrop is not None:
        bw, bh = backdrop_size
        box = content if content is not None else (0, 0, *image_size)
        subject_width = frame.subject_width if frame is not None else FrameOptions().subject_width
        origin, size = frame_window(box, bw / bh, subject_width, options.backdrop.floor)
        # The backdrop's own size, unless no variant needs that much: a listing's photos all
        # come out at the studio's size, whatever each photo's resolution.
        needed = max(_unbounded_scale(v, size) for v in options.variants)
        return Layout(origin=origin, size=size, scale=min(bw / size[0], needed))
    if frame is not None and content is not None:
        origin, size = frame_window(content, frame.ratio, frame.subject_width, frame.ground)
    else:
        origin, size = tight_window(image_size, content, options)
    return Layout(origin=origin, size=size, scale=render_scale(options.variants, size))
