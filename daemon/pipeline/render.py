"""From a decoded source to encoded variants: the pipeline's steps after decode, in order.

    apply removal -> crop (and frame) -> shadow -> flatten -> render variants -> encode

Crop, frame and the resize to output resolution are one resample of a window of the decoded image
(see layout.py); the shadow is then drawn at output resolution.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from daemon.pipeline.crop import Box
from daemon.pipeline.cutout import Layers, removal_layers
from daemon.pipeline.decode import Source
from daemon.pipeline.encode import encode, flatten
from daemon.pipeline.layout import Layout, plan_layout
from daemon.pipeline.options import ProcessingOptions
from daemon.pipeline.removal import Removal
from daemon.pipeline.shadow import ContactGeometry, add_contact_shadow, add_drop_shadow_at
from daemon.pipeline.variants import RESAMPLE, WINDOW_REDUCING_GAP, render_variants


@dataclass(frozen=True)
class EncodedVariant:
    """One rendered output, encoded."""

    name: str
    data: bytes
    width: int
    height: int
    format: str  # webp | png | jpeg
    extension: str
    content_type: str


@dataclass
class Rendered:
    """The pipeline's result: encoded variants (in the order asked) and the metadata."""

    variants: dict[str, EncodedVariant]
    metadata: dict[str, Any]


class _Clock:
    """Milliseconds per step, into a timings dict."""

    def __init__(self, timings: dict[str, int]) -> None:
        self.timings = timings
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = self.timings.get(step, 0) + round((now - self._last) * 1000)
        self._last = now


def render(
    source: Source,
    removal: Removal | None,
    options: ProcessingOptions,
    on_step: Callable[[str], None] | None = None,
) -> Rendered:
    """Apply the removal, crop, shadow, frame, flatten, render variants and encode."""
    step = on_step or (lambda _name: None)
    timings = dict(source.timings)
    clock = _Clock(timings)

    layers = Layers(source.image)
    if removal is not None:
        layers = removal_layers(source.image, removal)
        clock.lap("apply_removal")
    transparent = layers.transparent

    step("cropping")
    content = layers.content_box()
    layout = plan_layout(layers.size, content, options)
    # A shadow needs a subject with an outline: an opaque photo has no ground to shade.
    subject = content if options.add_shadow and transparent else None
    if subject is not None and options.frame is None and options.shadow.style == "contact":
        layout = _room_for_contact_shadow(layout, subject, options)
    canvas = _sample(layers, layout)
    clock.lap("crop")

    step("shadowing")
    origin_shift = (0, 0)
    if subject is not None:
        canvas, origin_shift = _shadow(canvas, layout, subject, options)
        clock.lap("shadow")

    step("rendering")
    fill = _hex(options.background) if options.background else None
    if fill is not None:
        canvas = flatten(canvas, fill)
        clock.lap("flatten")
    images = render_variants(canvas, options.variants, fill)
    clock.lap("variants")
    variants: dict[str, EncodedVariant] = {}
    for spec in options.variants:
        out = images[spec.name]
        variants[spec.name] = EncodedVariant(
            name=spec.name,
            data=encode(out, spec),
            width=out.width,
            height=out.height,
            format=spec.format,
            extension=spec.extension,
            content_type=spec.content_type,
        )
    clock.lap("encode")

    master = next(iter(variants.values()))
    metadata: dict[str, Any] = {
        "original_size": list(source.original_size),
        "final_size": [master.width, master.height],
        "crop_box": _crop_box(layout, canvas.size, origin_shift, source.scale),
        "has_shadow": subject is not None,
        "background_removed": transparent,
        "timings": timings,
        "processing_time": sum(timings.values()),
    }
    return Rendered(variants=variants, metadata=metadata)


def _room_for_contact_shadow(layout: Layout, content: Box, options: ProcessingOptions) -> Layout:
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


def _sample(layers: Layers, layout: Layout) -> Image.Image:
    """Resample the layout's window of the image onto its canvas (transparent outside)."""
    ox, oy = layout.origin
    k = layout.scale
    size = layout.canvas_size
    # The window's part that lies on the image, in decoded and in canvas pixels.
    x0, y0 = max(0.0, ox), max(0.0, oy)
    width, height = layers.size
    x1 = min(float(width), ox + size[0] / k)
    y1 = min(float(height), oy + size[1] / k)
    cx0, cy0 = round((x0 - ox) * k), round((y0 - oy) * k)
    cx1, cy1 = min(size[0], round((x1 - ox) * k)), min(size[1], round((y1 - oy) * k))
    if cx1 <= cx0 or cy1 <= cy0:
        return Image.new("RGBA", size, (0, 0, 0, 0))
    target = (cx1 - cx0, cy1 - cy0)
    # Cut the window out first (whole pixels around it): resize converts RGBA to premultiplied
    # RGBa over the whole image it is given, and the window is often a third of the photo.
    ix0, iy0 = math.floor(x0), math.floor(y0)
    ix1, iy1 = math.ceil(x1), math.ceil(y1)
    part = layers.crop((ix0, iy0, ix1, iy1))
    box = (x0 - ix0, y0 - iy0, x1 - ix0, y1 - iy0)
    if target != part.size or box != (0.0, 0.0, float(part.width), float(part.height)):
        part = part.resize(target, RESAMPLE, box=box, reducing_gap=WINDOW_REDUCING_GAP)
    if (cx0, cy0) == (0, 0) and part.size == size:
        # The later steps draw on the canvas: never on the caller's decoded image.
        return part.copy() if part is layers.base else part
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.paste(part.convert("RGBA") if part.mode != "RGBA" else part, (cx0, cy0))
    return canvas


def _shadow(
    canvas: Image.Image, layout: Layout, content: Box, options: ProcessingOptions
) -> tuple[Image.Image, tuple[int, int]]:
    box = layout.to_canvas(content)
    box = (max(0, box[0]), max(0, box[1]), min(canvas.width, box[2]), min(canvas.height, box[3]))
    shadow = options.shadow
    if shadow.style == "contact":
        return add_contact_shadow(canvas, box, shadow.opacity, shadow.blur), (0, 0)
    grown, origin = add_drop_shadow_at(
        canvas, shadow.opacity, shadow.blur, shadow.offset, width=box[2] - box[0]
    )
    if options.frame is not None:
        # A frame's canvas is fixed: keep its window, the shadow falls within its margins.
        x, y = origin
        return grown.crop((x, y, x + canvas.width, y + canvas.height)), (0, 0)
    return grown, origin


def _crop_box(
    layout: Layout,
    canvas_size: tuple[int, int],
    shift: tuple[int, int],
    scale: tuple[float, float],
) -> list[int]:
    """The canvas's window in upright-original pixels (may reach beyond the image)."""
    k = layout.scale
    # The window itself, grown by whatever a drop shadow added around it.
    extra_w = (canvas_size[0] - layout.canvas_size[0]) / k
    extra_h = (canvas_size[1] - layout.canvas_size[1]) / k
    left = layout.origin[0] - shift[0] / k
    top = layout.origin[1] - shift[1] / k
    right = left + layout.size[0] + extra_w
    bottom = top + layout.size[1] + extra_h
    sx, sy = scale
    return [round(left * sx), round(top * sy), round(right * sx), round(bottom * sy)]


def _hex(colour: str) -> tuple[int, int, int]:
    value = int(colour[1:], 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255
