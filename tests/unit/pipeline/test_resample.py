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


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("pitch", [4, 5])
def test_a_grille_finer_than_the_output_comes_out_even_not_striped(pitch: int, fmt: str) -> None:
    """Reduced 3.75 times, bars 4 or 5 px apart are finer than the output can show: a good
    low-pass leaves an even grey. A box reduction down to the target first (a decode reduced
    by whole factors, or Pillow's reducing_gap at 1) lets them fold back as broad false stripes
    (a column-to-column spread of 16 to 22 levels)."""
    data = io.BytesIO()
    _grille(pitch).save(data, format=fmt, quality=95)
    options = parse_options(
        {
            "remove_background": False,
            "add_shadow": False,
            "variants": [{"name": "processed", "max_width": 640, "format": "png"}],
        }
    )
    result = process_image(data.getvalue(), options)
    out = np.asarray(Image.open(io.BytesIO(result.variants["processed"].data)).convert("L"))
    assert out.shape == (427, 640)
    middle = out[100:330, 160:480].astype(float)
    columns = middle.mean(axis=0)
    assert columns.std() < 3, columns.std()
