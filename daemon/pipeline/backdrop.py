"""The vehicle on a dealer's studio: the backdrop is the canvas, the shadow darkens its floor.

The vehicle layer (cutout plus its shadow, transparent elsewhere) is composited over the
backdrop scaled to the canvas. A black shadow at alpha a over the floor gives floor * (1 - a):
the floor's own colour, darker, as a real floor under a car is (a multiply), never a grey paint.
Away from the car the layer is transparent, so the studio is untouched there.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

from daemon.pipeline.assets import Asset
from daemon.pipeline.crop import Box

# Edge pixels below this alpha take their colour from the solid pixels next to them.
_EDGE_ALPHA = 250
# How far (canvas px) the solid colour is spread into the edge, nearest first: a provider's edge
# is 1 to 3 px, a mask scaled up from a small upload several more.
_BLEED_RADII = (2, 4, 8)
# Around the layer's content, what the bleed reads (its widest reach, and one for rounding).
_PAD = _BLEED_RADII[-1] + 1


def on_backdrop(layer: Image.Image, backdrop: Asset) -> tuple[Image.Image, Box | None]:
    """The RGBA vehicle layer composited onto the backdrop at the layer's size (RGB out), and
    the box outside which the result is the backdrop's own pixels (None: nothing was drawn).

    Over an opaque studio, pasting through the layer's alpha is the "over" composite: no RGBA
    copy of the studio and no conversion back, and only where the layer has anything. The edges
    are cleaned on that part alone, never on a copy of the whole canvas.
    """
    studio = backdrop.resized(layer.size).copy()  # the asset is shared: draw on a copy
    box = layer.getbbox()  # of the alpha: the layer is RGBA
    if box is None:
        return studio, None
    box = (
        max(0, box[0] - _PAD),
        max(0, box[1] - _PAD),
        min(layer.width, box[2] + _PAD),
        min(layer.height, box[3] + _PAD),
    )
    part = decontaminate_edges(layer.crop(box))
    studio.paste(part, box[:2], part)
    return studio, box


def decontaminate_edges(layer: Image.Image) -> Image.Image:
    """Edge pixels with the colour of the vehicle next to them, not of the old background.

    A cutout's soft edge mixes the car with whatever stood behind it in the photo (a white
    studio wall, grass): on a dark floor that shows as a light halo. Pillow blurs RGBa
    premultiplied, so blurring the solid pixels alone and dividing by their spread alpha is
    the average colour of the nearby solid pixels: that is what the edge pixels get, from the
    nearest reach that has any (a soft mask's edge can be several pixels wide). Their alpha
    (the shape) is kept. The layer is not changed: a new image comes back.
    """
    if layer.mode != "RGBA":
        return layer
    alpha = layer.getchannel("A")
    edge = alpha.point(lambda a: 255 if 0 < a < _EDGE_ALPHA else 0)
    box = edge.getbbox()
    if box is None:
        return layer
    box = (
        max(0, box[0] - _PAD),
        max(0, box[1] - _PAD),
        min(layer.width, box[2] + _PAD),
        min(layer.height, box[3] + _PAD),
    )
    whole = box == (0, 0, *layer.size)
    part = layer.copy() if whole else layer.crop(box)
    if not whole:
        alpha, edge = alpha.crop(box), edge.crop(box)
    solid = part.copy()
    solid.putalpha(alpha.point(lambda a: 255 if a >= _EDGE_ALPHA else 0))
    bled = _spread(solid.convert("RGBa")).convert("RGBA")
    # Only where some solid colour reached: far from the body (specks) keep their own.
    reached = bled.getchannel("A").point(lambda a: 255 if a > 0 else 0)
    mask = ImageChops.multiply(edge, reached)
    bled.putalpha(alpha)
    part.paste(bled, (0, 0), mask)
    if whole:
        return part
    out = layer.copy()
    out.paste(part, box[:2])
    return out


def _spread(premultiplied: Image.Image) -> Image.Image:
    """The solid colours (RGBa, alpha 0 or 255) spread out, nearest reach first.

    At half size (the colours spread are smooth anyway: a quarter of the pixels to blur), the
    wider reaches only where nothing reached yet; then one upscale.
    """
    size = premultiplied.size
    half = min(size) >= 8
    if half:
        premultiplied = premultiplied.reduce(2)
    spread: Image.Image | None = None
    for radius in _BLEED_RADII:
        blurred = premultiplied.filter(ImageFilter.BoxBlur(radius / 2 if half else radius))
        if spread is None:
            spread = blurred
        else:
            empty = spread.getchannel(3).point(lambda a: 255 if a == 0 else 0)
            if empty.getbbox() is None:
                break
            spread.paste(blurred, (0, 0), empty)
    assert spread is not None
    return spread.resize(size, Image.Resampling.BILINEAR) if half else spread
