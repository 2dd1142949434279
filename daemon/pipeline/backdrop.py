"""The vehicle on a dealer's studio: the backdrop is the canvas, the shadow darkens its floor.

The vehicle layer (cutout plus its shadow, transparent elsewhere) is composited over the
backdrop scaled to the canvas. A black shadow at alpha a over the floor gives floor * (1 - a):
the floor's own colour, darker, as a real floor under a car is (a multiply), never a grey paint.
Away from the car the layer is transparent, so the studio is untouched there.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from daemon.pipeline.assets import Asset
from daemon.pipeline.crop import Box

# Edge pixels below this alpha take their colour from the solid pixels next to them.
_EDGE_ALPHA = 250
# How far (canvas px) the solid colour is spread into the edge, nearest first: a provider's edge
# is 1 to 3 px, a mask scaled up from a small upload several more.
_BLEED_RADII = (2, 4, 8)
# A spread colour is trusted where at least this much solid alpha reached: below, dividing the
# premultiplied 8-bit colour by its alpha multiplies its rounding into specks.
_TRUSTED = 2
# Around the layer's content, what the bleed reads (its widest reach, and one for rounding).
_PAD = _BLEED_RADII[-1] + 1
# The colours are spread at half size: smooth enough, a quarter of the pixels to blur. At a
# quarter size a 3 px dark seal along the outline was averaged with the body behind it and the
# edge came out grey (test_a_thin_dark_trim_at_the_outline_keeps_its_colour).
_SPREAD_STEP = 2


def on_backdrop(layer: Image.Image, backdrop: Asset) -> tuple[Image.Image, Box | None]:
    """The RGBA vehicle layer composited onto the backdrop at the layer's size (RGB out), and
    the box outside which the result is the backdrop's own pixels (None: nothing was drawn).

    Over an opaque studio, pasting through the layer's alpha is the "over" composite: no RGBA
    copy of the studio and no conversion back, and only where the layer has anything. Its edges
    were cleaned before the shadow was added (decontaminate_edges).
    """
    studio = backdrop.resized(layer.size).copy()  # the asset is shared: draw on a copy
    box = layer.getbbox()  # of the alpha: the layer is RGBA
    if box is None:
        return studio, None
    part = layer.crop(box)
    studio.paste(part, box[:2], part)
    return studio, box


def decontaminate_edges(layer: Image.Image) -> None:
    """Edge pixels with the colour of the vehicle next to them, not of the old background.

    A cutout's soft edge mixes the car with whatever stood behind it in the photo (a white
    studio wall, grass): on a dark floor that shows as a light halo. Pillow blurs RGBa
    premultiplied, so blurring the solid pixels alone and dividing by their spread alpha is
    the average colour of the nearby solid pixels: that is what the edge pixels get, from the
    nearest reach that has any (a soft mask's edge can be several pixels wide). Their alpha
    (the shape) is kept. Run it before the shadow is added: a shadow's pixels are edge pixels
    too by their alpha, and they must stay black, not take the colour of the car above them.
    The layer is changed in place (an RGBA layer; any other has no edges to clean).
    """
    if layer.mode != "RGBA":
        return
    alpha = layer.getchannel("A")
    edge = alpha.point(lambda a: 255 if 0 < a < _EDGE_ALPHA else 0)
    box = edge.getbbox()
    if box is None:
        return
    box = (
        max(0, box[0] - _PAD),
        max(0, box[1] - _PAD),
        min(layer.width, box[2] + _PAD),
        min(layer.height, box[3] + _PAD),
    )
    part = layer.crop(box)
    solid = part.copy()
    solid.putalpha(alpha.crop(box).point(lambda a: 255 if a >= _EDGE_ALPHA else 0))
    # The edge is a thin outline: the spread colours are read at its pixels alone, rather than
    # scaled up to the whole box and pasted through a mask.
    ys, xs = np.divmod(np.flatnonzero(np.asarray(edge.crop(box))), box[2] - box[0])
    near = _spread_at(solid.convert("RGBa"), ys, xs)
    reached = near[:, 3] >= _TRUSTED  # far from the body (specks) an edge keeps its own colour
    ys, xs, near = ys[reached], xs[reached], near[reached]
    pixels = np.array(part)
    colour = near[:, :3] * (255.0 / near[:, 3:]) + 0.5  # un-premultiplied
    pixels[ys, xs, :3] = np.minimum(colour, 255.0).astype(np.uint8)
    layer.paste(Image.fromarray(pixels, "RGBA"), box[:2])


def _spread_at(premultiplied: Image.Image, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The solid colours (RGBa, alpha 0 or 255) spread out, nearest reach first, read at pixels
    (ys, xs) as a bilinear upscale would give them. Blurred at 1/_SPREAD_STEP of the size (the
    colours spread are smooth anyway); the wider reaches only where nothing reached yet."""
    small = premultiplied.reduce(_SPREAD_STEP)
    spread: Image.Image | None = None
    for radius in _BLEED_RADII:
        blurred = small.filter(ImageFilter.BoxBlur(radius / _SPREAD_STEP))
        if spread is None:
            spread = blurred
        else:
            empty = spread.getchannel(3).point(lambda a: 255 if a < _TRUSTED else 0)
            if empty.getbbox() is None:
                break
            spread.paste(blurred, (0, 0), empty)
    assert spread is not None
    return _bilinear(np.asarray(spread), ys, xs)


def _bilinear(small: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The values of `small` (1/_SPREAD_STEP of the size) at full-size pixels (ys, xs), as a
    bilinear upscale gives them (float32, one row per pixel)."""
    height, width = small.shape[:2]
    flat = small.reshape(-1, small.shape[2])

    def axis(at: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (at + 0.5) / _SPREAD_STEP - 0.5  # pixel centres, as Image.resize maps them
        low = np.clip(np.floor(pos).astype(np.intp), 0, size - 1)
        high = np.minimum(low + 1, size - 1)
        weight = np.clip(pos - low, 0.0, 1.0).astype(np.float32)[:, None]
        return low, high, weight

    y0, y1, wy = axis(ys, height)
    x0, x1, wx = axis(xs, width)
    top = flat[y0 * width + x0] * (1 - wx) + flat[y0 * width + x1] * wx
    bottom = flat[y1 * width + x0] * (1 - wx) + flat[y1 * width + x1] * wx
    return np.asarray(top * (1 - wy) + bottom * wy, dtype=np.float32)
