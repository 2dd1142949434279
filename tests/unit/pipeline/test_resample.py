"""Resampling keeps fine regular detail (a grille, a mesh, spokes) free of moiré."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from daemon.pipeline import parse_options, process_image


def _grille(pitch: int, width: int = 2400, height: int = 1600) -> Image.Image:
    """Light bars one pixel wide every `pitch` pixels on a dark ground: a radiator grille."""
    image = Image.new("RGB", (width, height), (30, 30, 34))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, pitch):
        draw.line([(x, 0), (x, height)], fill=(220, 220, 224), width=1)
    return image


@pytest.mark.parametrize(
    ("fmt", "bounded"),
    [("PNG", False), ("JPEG", False), ("PNG", True)],
    ids=["png", "jpeg", "png-decoded-reduced"],
)
@pytest.mark.parametrize("pitch", [4, 5])
def test_a_grille_finer_than_the_output_comes_out_even_not_striped(
    pitch: int, fmt: str, bounded: bool
) -> None:
    """Reduced 3.75 times, bars 4 or 5 px apart are finer than the output can show: a good
    low-pass leaves an even grey. A box reduction down to the target first (Pillow's
    reducing_gap at 1 in the window's resample; with both sides bounded, also the decode's
    reduction of an opaque photo by whole factors) lets them fold back as broad false stripes
    (a column-to-column spread of 16 to 22 levels).

    Not with a JPEG bounded both ways: its scale-on-load in the DCT domain (decode._draft) is
    kept, as sharp keeps it by default, for what a full decode of a 48 MP JPEG would cost
    (twice the time and 144 MB more); on these one-pixel bars it leaves a spread of 15 levels."""
    data = io.BytesIO()
    _grille(pitch).save(data, format=fmt, quality=95)
    master: dict[str, object] = {"name": "processed", "max_width": 640, "format": "png"}
    if bounded:
        master["max_height"] = 640  # the decode may reduce a 2400 px photo for it
    options = parse_options({"remove_background": False, "add_shadow": False, "variants": [master]})
    result = process_image(data.getvalue(), options)
    out = np.asarray(Image.open(io.BytesIO(result.variants["processed"].data)).convert("L"))
    assert out.shape == (427, 640)
    middle = out[100:330, 160:480].astype(float)
    columns = middle.mean(axis=0)
    assert columns.std() < 3, columns.std()
