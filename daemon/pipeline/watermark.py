"""The watermark step: the dealer's logo on every variant, resampled once per variant."""

from __future__ import annotations

from PIL import Image

from daemon.domain.options import WatermarkOptions
from daemon.pipeline.assets import Asset


def logo_box(
    image_size: tuple[int, int], logo_size: tuple[int, int], options: WatermarkOptions
) -> tuple[int, int, int, int]:
    """Where the logo goes on an image: its width a share of the image's, at the position."""
    width, height = image_size
    lw = max(1, round(width * options.width))
    lh = max(1, round(lw * logo_size[1] / logo_size[0]))
    margin = round(width * options.margin)
    x = {"left": margin, "right": width - margin - lw, "center": (width - lw) // 2}
    y = {"top": margin, "bottom": height - margin - lh, "center": (height - lh) // 2}
    if options.position == "center":
        left, top = x["center"], y["center"]
    else:
        vertical, horizontal = options.position.split("-")
        left, top = x[horizontal], y[vertical]
    # A logo wider than the room left by its margins is kept inside the image.
    left = min(max(0, left), max(0, width - lw))
    top = min(max(0, top), max(0, height - lh))
    return left, top, min(width, left + lw), min(height, top + lh)


def add_watermark(image: Image.Image, logo: Asset, options: WatermarkOptions) -> None:
    """Composite the logo onto the image in place (alpha respected, `opacity` applied).

    The logo is resampled from the original straight to its size on this image: once per
    variant, and shared by every job that renders that size.
    """
    left, top, right, bottom = logo_box(image.size, logo.size, options)
    size = (right - left, bottom - top)
    mark = logo.resized(size)
    if options.opacity < 1.0:
        mark = mark.copy()  # the resized logo is shared
        mark.putalpha(mark.getchannel("A").point(lambda a: round(a * options.opacity)))
    if image.mode == "RGBA":
        image.alpha_composite(mark, (left, top))
    else:
        image.paste(mark, (left, top), mark)
