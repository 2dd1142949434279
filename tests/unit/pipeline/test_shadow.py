"""The shadow steps: contact grounds the car without a clipping edge; drop is an offset copy."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from daemon.domain.options import parse_options
from daemon.pipeline import process_image
from daemon.pipeline.shadow import add_contact_shadow, add_drop_shadow_at
from tests.unit.pipeline.images import car_cutout, encode


def _master(options: dict[str, object]) -> tuple[Image.Image, dict]:
    opts = parse_options(
        {
            "variants": [
                {"name": "processed", "max_width": 2000, "max_height": 2000, "format": "png"}
            ],
            **options,
        }
    )
    result = process_image(encode(car_cutout((1600, 1000), (300, 300, 1300, 700))), opts)
    return Image.open(io.BytesIO(result.variants["processed"].data)).convert(
        "RGBA"
    ), result.metadata


def test_contact_shadow_sits_under_the_car_and_fades_before_the_edge() -> None:
    image, metadata = _master({})
    plain, _ = _master({"add_shadow": False})
    assert metadata["has_shadow"] is True
    alpha = np.asarray(image)[..., 3].astype(int)
    # The canvas grew below the wheels to hold the shadow.
    assert image.height > plain.height
    wheels = 20 + 400 + 0  # top padding + car height
    below = alpha[wheels + 2 : wheels + 12, 100:-100]
    assert below.max() > 40  # shaded under the car
    # No clipping edge: the last rows and the side columns are (almost) empty.
    assert alpha[-2:].max() <= 2
    assert alpha[:, :2].max() <= 2 and alpha[:, -2:].max() <= 2
    # The car itself is untouched above the ground line.
    assert (alpha[170:300, 200:-200] == 255).all()


def test_shadow_opacity_controls_darkness() -> None:
    light, _ = _master({"shadow": {"opacity": 0.2}})
    dark, _ = _master({"shadow": {"opacity": 0.9}})
    row = 20 + 400 + 5
    assert np.asarray(dark)[row, :, 3].mean() > 2 * np.asarray(light)[row, :, 3].mean()


def test_drop_style_grows_the_canvas_right_and_down() -> None:
    image, metadata = _master({"shadow": {"style": "drop", "offset": [30, 40], "blur": 4}})
    plain, _ = _master({"add_shadow": False})
    assert image.width > plain.width + 30 and image.height > plain.height + 40
    # The shadow's copy shows below and right of the (opaque) car.
    alpha = np.asarray(image)[..., 3]
    rows, cols = np.nonzero(alpha == 255)
    assert alpha[rows.max() + 20].max() > 0
    assert alpha[:, cols.max() + 20].max() > 0
    assert alpha[: rows.min() - 5].max() <= 2  # nothing above the car
    left, top, right, bottom = metadata["crop_box"]
    assert right - left > 1000 + 30 and bottom - top > 400 + 40


def test_contact_shadow_on_a_bare_canvas_is_limited_to_its_band() -> None:
    canvas = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    canvas.paste((10, 10, 10, 255), (100, 100, 300, 200))
    out = add_contact_shadow(canvas, (100, 100, 300, 200), opacity=0.6)
    alpha = np.asarray(out)[..., 3]
    assert alpha[:80].max() == 0  # nothing far above the ground
    assert alpha[205, 200] > 0


def test_drop_shadow_reports_where_the_original_went() -> None:
    canvas = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    canvas.paste((200, 0, 0, 255), (50, 25, 150, 75))
    out, (x, y) = add_drop_shadow_at(canvas, 0.5, 3.0, [-10, 12])
    pixel = out.getpixel((x + 100, y + 50))
    assert pixel == (200, 0, 0, 255)
