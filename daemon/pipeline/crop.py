"""The crop step: the content's bounding box from a thresholded alpha, plus padding."""

from __future__ import annotations

import math

from PIL import Image, ImageFilter

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)

# Alpha at or below this is background. Real cutouts carry faint speckles (alpha 1 to 3) far from
# the car, and soft edges fade out below it; neither should widen the crop.
ALPHA_THRESHOLD = 10
_LUT = [0] * (ALPHA_THRESHOLD + 1) + [255] * (255 - ALPHA_THRESHOLD)
_HALF = [0] * 128 + [255] * 128
_FULL = [0] * 255 + [255]  # every pixel of the square was set
_ANY = [0] + [255] * 255  # some pixel of the square was set


# Specks a background-removal model leaves around the car (opaque dots a few pixels across) must
# not widen the crop: the box is taken again at about this size, with specks opened away.
SPECK_CHECK_SIDE = 1024


def open_mask(mask: Image.Image, radius: int) -> Image.Image:
    """Morphological opening of a 0/255 mask with a (2r+1)-square: what fits in no such square
    goes, the rest keeps its shape. Done with box blurs (constant time per pixel; Pillow's rank
    filters cost ten times more): a pixel survives erosion when its whole square is set, and
    dilation sets it when any pixel of its square is."""
    eroded = mask.filter(ImageFilter.BoxBlur(radius)).point(_FULL)
    return eroded.filter(ImageFilter.BoxBlur(radius)).point(_ANY)


def subject_box(image: Image.Image) -> Box | None:
    """The content box without isolated specks (content_box when there are none).

    The alpha is reduced (box filter) to about SPECK_CHECK_SIDE, thresholded at half and opened
    with a 3x3 square (what fits in no 3x3 square there, a speck, goes); within that box, mapped
    back outwards, the plain content box is taken at full resolution. Only that region is
    thresholded: on a 48 MP cutout a full-size thresholded copy costs 48 MB and 40 ms.
    """
    if image.mode == "L":
        alpha = image
    elif image.mode in ("RGBA", "LA"):
        alpha = image.getchannel("A")
    else:
        return (0, 0, image.width, image.height)
    factor = max(1, math.ceil(max(alpha.size) / SPECK_CHECK_SIDE))
    small = alpha.reduce(factor) if factor > 1 else alpha
    box = open_mask(small.point(_HALF), 1).getbbox()
    if box is None:
        return alpha.point(_LUT).getbbox()  # all of it is speck-sized: keep what there is
    region = (
        max(0, box[0] * factor - factor),
        max(0, box[1] * factor - factor),
        min(alpha.width, box[2] * factor + factor),
        min(alpha.height, box[3] * factor + factor),
    )
    plain = alpha.crop(region).point(_LUT).getbbox()
    if plain is None:  # cannot be: the region holds pixels of half opacity at least
        return alpha.point(_LUT).getbbox()
    return (
        region[0] + plain[0],
        region[1] + plain[1],
        region[0] + plain[2],
        region[1] + plain[3],
    )


def content_box(image: Image.Image, threshold: int = ALPHA_THRESHOLD) -> Box | None:
    """Bounding box of the pixels whose alpha is above threshold; the whole image when opaque.

    An L image is taken as an alpha mask.

    None when nothing is above the threshold (an empty cutout).
    """
    if image.mode == "L":
        alpha = image  # a mask: the alpha itself
    elif image.mode in ("RGBA", "LA"):
        alpha = image.getchannel("A")
    else:
        return (0, 0, image.width, image.height)
    lut = (
        _LUT if threshold == ALPHA_THRESHOLD else [0] * (threshold + 1) + [255] * (255 - threshold)
    )
    # point() on the alpha alone: one byte per pixel, a single pass in C.
    return alpha.point(lut).getbbox()


def padded_box(
    content: Box, size: tuple[int, int], padding_percent: float, min_padding: int
) -> Box:
    """The content box grown by max(min_padding, share of the content's size), inside the image."""
    left, top, right, bottom = content
    pad_x = max(min_padding, int((right - left) * padding_percent))
    pad_y = max(min_padding, int((bottom - top) * padding_percent))
    return (
        max(0, left - pad_x),
        max(0, top - pad_y),
        min(size[0], right + pad_x),
        min(size[1], bottom + pad_y),
    )


def auto_crop_with_padding(
    image: Image.Image, padding_percent: float = 0.05, min_padding: int = 20
) -> Image.Image:
    """Crop to the content (alpha above the threshold) plus padding on each side (contract s.8).

    Padding on each side is max(min_padding, padding_percent of the content's width or height),
    limited by the image's edges. An opaque or empty image is returned unchanged.
    """
    content = content_box(image)
    if content is None:
        return image.copy()
    return image.crop(padded_box(content, image.size, padding_percent, min_padding))
