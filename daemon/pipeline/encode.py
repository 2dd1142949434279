"""The encode step: WebP, JPEG or PNG, metadata stripped but for an sRGB profile."""

from __future__ import annotations

import io

from PIL import Image

from daemon.pipeline.colour import SRGB_ICC
from daemon.pipeline.options import VariantSpec

# Settings chosen by measurement (bench/encoders.py-style runs on the samples, 2560 px master):
# - WebP method 4 (Pillow's default) costs about 1.6x method 2 for 3-5 % smaller files at the same
#   quality; method 6 is 2x slower again for about 1 % more. 4 is the knee.
# - JPEG progressive + optimised Huffman tables: about 8 % smaller for about 15 % more time.
#   4:2:0 chroma below quality 90, 4:4:4 at 90 and above (what the quality was asked for).
# - PNG compress_level 6 (zlib's default): level 9 saves about 1 % at 3x the time; level 1 is
#   20 % larger.
WEBP_METHOD = 4
PNG_COMPRESS_LEVEL = 6


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
