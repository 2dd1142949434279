"""The vehicle on a dealer's studio: the backdrop is the canvas, the shadow darkens its floor.

The vehicle layer (cutout plus its shadow, transparent elsewhere) is composited over the
backdrop scaled to the canvas. A black shadow at alpha a over the floor gives floor * (1 - a):
the floor's own colour, darker, as a real floor under a car is (a multiply), never a grey paint.
Away from the car the layer is transparent, so the studio is untouched there.
"""

from __future__ import annotations

from PIL import Image, ImageFilter

from daemon.pipeline.assets import Asset

# Edge pixels below this alpha take their colour from the solid pixels next to them.
_EDGE_ALPHA = 250
# How far (canvas px) the solid colour is spread into the edge: a soft cutout edge is 1 to 3 px.
_BLEED_RADIUS = 2


def on_backdrop(layer: Image.Image, backdrop: Asset) -> Image.Image:
    """The RGBA vehicle layer composited onto the backdrop at the layer's size (RGB out)."""
    studio = backdrop.resized(layer.size).convert("RGBA")  # a copy: the asset is shared
    studio.alpha_composite(decontaminate_edges(layer))
    return studio.convert("RGB")


def decontaminate_edges(layer: Image.Image) -> Image.Image:
    """Edge pixels with the colour of the vehicle next to them, not of the old background.

    A cutout's soft edge mixes the car with whatever stood behind it in the photo (a white
    studio wall, grass): on a dark floor that shows as a light halo. Pillow blurs RGBa
    premultiplied, so blurring the solid pixels alone and dividing by their spread alpha is
    the average colour of the nearby solid pixels: that is what the edge pixels get. Their
    alpha (the shape) is kept.
    """
    if layer.mode != "RGBA":
        return layer
    alpha = layer.getchannel("A")
    solid = alpha.point(lambda a: 255 if a >= _EDGE_ALPHA else 0)
    edge = alpha.point(lambda a: 255 if 0 < a < _EDGE_ALPHA else 0)
    box = edge.getbbox()
    if box is None:
        return layer
    pad = _BLEED_RADIUS + 1
    box = (
        max(0, box[0] - pad),
        max(0, box[1] - pad),
        min(layer.width, box[2] + pad),
        min(layer.height, box[3] + pad),
    )
    part = layer.crop(box)
    source = part.copy()
    source.putalpha(solid.crop(box))
    bled = source.convert("RGBa").filter(ImageFilter.BoxBlur(_BLEED_RADIUS)).convert("RGBA")
    # Only where some solid colour reached: far from the body (a shadow, specks) keep their own.
    reached = bled.getchannel("A").point(lambda a: 255 if a > 0 else 0)
    mask = Image.composite(edge.crop(box), Image.new("L", part.size, 0), reached)
    bled.putalpha(part.getchannel("A"))
    part.paste(bled, (0, 0), mask)
    out = layer.copy()
    out.paste(part, box[:2])
    return out
