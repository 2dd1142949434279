"""Property tests: cropping never loses a content pixel, and pads exactly as specified."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from daemon.pipeline import auto_crop_with_padding, content_box
from daemon.pipeline.crop import ALPHA_THRESHOLD


@st.composite
def cutouts(draw: st.DrawFn) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A transparent canvas with a few content blocks and faint speckles; and the content box."""
    width = draw(st.integers(8, 300))
    height = draw(st.integers(8, 300))
    alpha = np.zeros((height, width), np.uint8)
    n = draw(st.integers(1, 4))
    for _ in range(n):
        x0 = draw(st.integers(0, width - 1))
        y0 = draw(st.integers(0, height - 1))
        x1 = draw(st.integers(x0 + 1, width))
        y1 = draw(st.integers(y0 + 1, height))
        alpha[y0:y1, x0:x1] = draw(st.integers(ALPHA_THRESHOLD + 1, 255))
    ys, xs = np.nonzero(alpha)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    # Speckles (alpha 1..3) anywhere outside the content: they must not widen the crop.
    for _ in range(draw(st.integers(0, 5))):
        x = draw(st.integers(0, width - 1))
        y = draw(st.integers(0, height - 1))
        if alpha[y, x] == 0:
            alpha[y, x] = draw(st.integers(1, 3))
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., 0] = 90
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, "RGBA"), box


@settings(max_examples=150, deadline=None)
@given(
    case=cutouts(),
    padding_percent=st.floats(0.0, 0.5),
    min_padding=st.integers(0, 60),
)
def test_crop_keeps_every_content_pixel_and_pads_as_specified(
    case: tuple[Image.Image, tuple[int, int, int, int]], padding_percent: float, min_padding: int
) -> None:
    image, (left, top, right, bottom) = case
    assert content_box(image) == (left, top, right, bottom)

    cropped = auto_crop_with_padding(image, padding_percent, min_padding)

    pad_x = max(min_padding, int((right - left) * padding_percent))
    pad_y = max(min_padding, int((bottom - top) * padding_percent))
    # Each side gets the padding, limited only by the image's edge.
    crop_left = max(0, left - pad_x)
    crop_top = max(0, top - pad_y)
    assert cropped.width == min(image.width, right + pad_x) - crop_left
    assert cropped.height == min(image.height, bottom + pad_y) - crop_top
    # No content pixel is lost: the content inside the crop is the original content, pixel for
    # pixel, and nothing above the threshold was outside the crop.
    original = np.asarray(image)[..., 3]
    kept = np.asarray(cropped)[..., 3]
    assert int((original > ALPHA_THRESHOLD).sum()) == int((kept > ALPHA_THRESHOLD).sum())
    window = original[crop_top : crop_top + cropped.height, crop_left : crop_left + cropped.width]
    assert np.array_equal(window, kept)


def test_speckles_do_not_defeat_the_crop() -> None:
    image = Image.new("RGBA", (1000, 800), (0, 0, 0, 0))
    image.paste((30, 30, 30, 255), (400, 300, 600, 500))
    for xy in ((0, 0), (999, 0), (0, 799), (999, 799)):
        image.putpixel(xy, (255, 255, 255, 3))
    cropped = auto_crop_with_padding(image, 0.05, 20)
    assert cropped.size == (240, 240)


def test_opaque_and_empty_images_are_returned_whole() -> None:
    opaque = Image.new("RGB", (50, 40), (1, 2, 3))
    assert auto_crop_with_padding(opaque).size == (50, 40)
    empty = Image.new("RGBA", (50, 40), (0, 0, 0, 0))
    assert content_box(empty) is None
    assert auto_crop_with_padding(empty).size == (50, 40)
