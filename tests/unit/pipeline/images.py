"""Test images made in code: synthetic vehicles, encoded as the pipeline receives them."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

BODY = (50, 50, 50, 255)


def encode(image: Image.Image, fmt: str = "PNG", **params: Any) -> bytes:
    """The image's bytes in a format."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def block_cutout(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """A transparent canvas with one opaque block (the plan's 'car')."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste(BODY, box)
    return image


def car_cutout(
    size: tuple[int, int] = (1200, 800),
    box: tuple[int, int, int, int] = (200, 250, 1000, 600),
    speckles: bool = False,
) -> Image.Image:
    """A car-like silhouette (body, cabin, two wheels) on transparency, as a provider returns it.

    With speckles: faint alpha 1..3 dots near the corners, like real cutouts carry.
    """
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    wheel = height * 0.22
    body_bottom = bottom - wheel
    draw.rounded_rectangle(
        (left, top + height * 0.35, right, body_bottom),
        radius=int(height * 0.08),
        fill=(180, 20, 30, 255),
    )
    draw.polygon(
        [
            (left + width * 0.22, top + height * 0.36),
            (left + width * 0.35, top),
            (left + width * 0.68, top),
            (left + width * 0.8, top + height * 0.36),
        ],
        fill=(40, 60, 90, 255),
    )
    for cx in (left + width * 0.2, left + width * 0.8):
        draw.ellipse(
            (cx - wheel, bottom - 2 * wheel, cx + wheel, bottom - 1), fill=(15, 15, 15, 255)
        )
    if speckles:
        for x, y, a in (
            (3, 3, 2),
            (size[0] - 4, 5, 3),
            (6, size[1] - 3, 1),
            (size[0] - 2, size[1] - 2, 3),
        ):
            image.putpixel((x, y), (255, 255, 255, a))
    return image


def studio_photo(size: tuple[int, int] = (1200, 800)) -> Image.Image:
    """The same car on an opaque light backdrop (an original before background removal)."""
    backdrop = Image.new("RGBA", size, (235, 235, 238, 255))
    backdrop.alpha_composite(car_cutout(size))
    return backdrop.convert("RGB")


def car_mask(size: tuple[int, int] = (1200, 800)) -> Image.Image:
    """The provider's mask for studio_photo: white where the car is."""
    return car_cutout(size).getchannel("A")
