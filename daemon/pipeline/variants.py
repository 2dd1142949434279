"""The render-variants step: each output resized from the smallest larger one already made."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from daemon.domain.options import VariantSpec
from daemon.pipeline.crop import Box
from daemon.pipeline.layout import variant_scale
from daemon.pipeline.resample import REACH, resize, resize_window


@dataclass(frozen=True)
class Painted:
    """A canvas that is a known background (the studio, at any size) but inside `box`.

    Its variants are that background at their size with only `box` resized from the canvas:
    the rest would come out the same, and on a studio the car is a third of the canvas.
    """

    background: Callable[[tuple[int, int]], Image.Image]  # shared: never drawn on
    box: Box | None  # None: nothing was drawn, the canvas is the background


def resize_painted(
    image: Image.Image, painted: Painted, size: tuple[int, int]
) -> tuple[Image.Image, Painted]:
    """`image` resized to `size`, where only the painted box is resampled (see Painted).

    The box is resized with `box=` on the whole image, so its pixels are those a full resize
    gives there (Pillow clips the filter to the image, not to the box).
    """
    out = painted.background(size).copy()
    if painted.box is None:
        return out, painted
    kx, ky = size[0] / image.width, size[1] / image.height
    reach_x, reach_y = math.ceil(REACH * max(1.0, kx)), math.ceil(REACH * max(1.0, ky))
    left, top, right, bottom = painted.box
    x0, y0 = max(0, math.floor(left * kx) - reach_x), max(0, math.floor(top * ky) - reach_y)
    x1 = min(size[0], math.ceil(right * kx) + reach_x)
    y1 = min(size[1], math.ceil(bottom * ky) + reach_y)
    if x1 > x0 and y1 > y0:
        part = resize_window(image, (x0 / kx, y0 / ky, x1 / kx, y1 / ky), (x1 - x0, y1 - y0))
        out.paste(part, (x0, y0))
    return out, Painted(painted.background, (x0, y0, x1, y1))


def render_variants(
    canvas: Image.Image,
    specs: list[VariantSpec],
    fill: tuple[int, int, int] | None,
    painted: Painted | None = None,
) -> dict[str, Image.Image]:
    """Every variant of the canvas, in the order of `specs`.

    Largest first; each is resized from the smallest already-scaled image that is still at least
    as large, so a 640 px grid comes from the 1600 px detail rather than a 12 MP original.
    `fill` is the colour of a fixed canvas's empty area (None: transparent). With `painted`,
    only its box is resampled, onto the background at each size.
    """
    size = (float(canvas.width), float(canvas.height))
    order = sorted(specs, key=lambda s: variant_scale(s, size), reverse=True)
    scaled: list[Image.Image] = [canvas]  # scaled copies of the canvas, largest first
    paints: dict[int, Painted] = {} if painted is None else {id(canvas): painted}
    out: dict[str, Image.Image] = {}
    for spec in order:
        k = variant_scale(spec, size)
        target = (max(1, round(canvas.width * k)), max(1, round(canvas.height * k)))
        base = min(
            (im for im in scaled if im.width >= target[0] and im.height >= target[1]),
            key=lambda im: im.width,
            default=canvas,
        )
        if base.size == target:
            image = base
        elif painted is not None:
            image, made = resize_painted(base, paints[id(base)], target)
            paints[id(image)] = made
        else:
            image = resize(base, target)
        if image is not base:
            scaled.append(image)
        if spec.width is not None and spec.height is not None:
            image = _on_canvas(image, (spec.width, spec.height), fill)
        out[spec.name] = image
    return {spec.name: out[spec.name] for spec in specs}


def _on_canvas(
    image: Image.Image, size: tuple[int, int], fill: tuple[int, int, int] | None
) -> Image.Image:
    """Centre the image on a fixed canvas, cropping what overflows (fit=cover)."""
    if image.size == size:
        return image
    mode = image.mode if fill is None else "RGB"
    colour: tuple[int, ...] = (0, 0, 0, 0) if fill is None else fill
    if mode == "RGB" and fill is None:
        colour = (255, 255, 255)
    board = Image.new(mode, size, colour)
    x = (size[0] - image.width) // 2
    y = (size[1] - image.height) // 2
    if image.mode == "RGBA" and mode == "RGBA":
        board.paste(image, (x, y))
    elif image.mode == "RGBA":
        board.paste(image, (x, y), image)
    else:
        board.paste(image, (x, y))
    return board
