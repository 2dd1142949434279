"""The encode step: WebP, AVIF, JPEG or PNG, metadata stripped but for an sRGB profile."""

from __future__ import annotations

import io

from PIL import Image

from daemon.domain.options import VariantSpec
from daemon.pipeline.colour import SRGB_ICC

# Settings chosen by measurement, on the 2560 px master of the benchmark's 12 MP cutout (RGBA with
# a contact shadow; CPU seconds, quality 90):
# - WebP method 2 / 3 / 4: 0.35 s 93 kB / 0.41 s 90 kB / 0.48 s 83 kB (6 is several times slower
#   for about 5 % less). 4, libwebp's default, is the knee: 11 % smaller than 2 for 37 % more CPU,
#   and bytes are paid on every view. Most of the cost is the alpha plane: the same master
#   flattened to RGB encodes in 0.18 s.
# - JPEG progressive with optimised Huffman tables: 16 % smaller than baseline (95 vs 113 kB) for
#   about 50 ms. 4:2:0 chroma below quality 90, 4:4:4 from 90 (asking for 90 means detail matters).
# - PNG compress_level 6: 24 % smaller than level 1 (418 vs 546 kB) at about twice the time;
#   level 9 is much slower for little more.
# - AVIF (Pillow's own libavif), on a 2560 px RGBA master of a 3/4 view, quality 70: speed 4 /
#   6 / 8 / 9: 6.4 s 52 kB / 0.89 s 57 kB / 0.31 s 70 kB / 0.13 s 99 kB (WebP q90 m4: 0.44 s,
#   131 kB). 8 is the knee: cheaper than WebP and half its bytes; 6 saves 19 % more for 3x the
#   CPU. The variant's quality is passed as it is.
WEBP_METHOD = 4
PNG_COMPRESS_LEVEL = 6
AVIF_SPEED = 8


def flatten(image: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """The image composited onto an opaque colour (RGB out)."""
    if image.mode != "RGBA":
        return image if image.mode == "RGB" else image.convert("RGB")
    board = Image.new("RGB", image.size, colour)
    board.paste(image, (0, 0), image)
    return board


def encode(image: Image.Image, spec: VariantSpec) -> bytes:
    """One variant's bytes in its format."""
    buffer = io.BytesIO()
    if spec.format == "jpeg":
        rgb = flatten(image, (255, 255, 255))
        rgb.save(
            buffer,
            format="JPEG",
            quality=spec.quality,
            progressive=True,
            optimize=True,
            subsampling=0 if spec.quality >= 90 else 2,
            icc_profile=SRGB_ICC,
        )
    elif spec.format == "avif":
        image.save(
            buffer,
            format="AVIF",
            quality=spec.quality,
            speed=AVIF_SPEED,
            icc_profile=SRGB_ICC,
        )
    elif spec.format == "png":
        image.save(
            buffer,
            format="PNG",
            compress_level=PNG_COMPRESS_LEVEL,
            icc_profile=SRGB_ICC,
        )
    else:
        image.save(
            buffer,
            format="WEBP",
            quality=spec.quality,
            method=WEBP_METHOD,
            icc_profile=SRGB_ICC,
        )
    return buffer.getvalue()
