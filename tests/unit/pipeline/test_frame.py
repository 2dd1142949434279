"""Geometry of `frame`: fixed aspect, the vehicle at its share of the width, wheels on the line."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from daemon.domain.options import parse_options
from daemon.pipeline import content_box, process_image
from tests.unit.pipeline.images import car_cutout, encode


def _master(data: bytes, frame: dict[str, object], **extra: object) -> tuple[Image.Image, dict]:
    options = parse_options(
        {
            "frame": frame,
            "add_shadow": False,
            "variants": [
                {"name": "processed", "max_width": 2000, "max_height": 2000, "format": "png"}
            ],
            **extra,
        }
    )
    result = process_image(data, options)
    return Image.open(io.BytesIO(result.variants["processed"].data)), result.metadata


@pytest.mark.parametrize(
    ("aspect", "subject_width", "ground"),
    [("4:3", 0.8, 0.85), ("16:9", 0.7, 0.9), ("1:1", 0.9, 0.8), ("3:2", 0.5, 0.75)],
)
def test_vehicle_spans_its_share_with_wheels_on_the_line(
    aspect: str, subject_width: float, ground: float
) -> None:
    data = encode(car_cutout((1600, 1000), (300, 400, 1300, 800)))
    image, _ = _master(data, {"aspect": aspect, "subject_width": subject_width, "ground": ground})
    w, h = (int(p) for p in aspect.split(":"))
    assert image.width / image.height == pytest.approx(w / h, abs=0.01)
    box = content_box(image)
    assert box is not None
    left, _top, right, bottom = box
    assert (right - left) / image.width == pytest.approx(subject_width, abs=0.01)
    assert bottom / image.height == pytest.approx(ground, abs=0.01)
    # Centred horizontally.
    assert (left + right) / 2 == pytest.approx(image.width / 2, abs=2)


def test_every_photo_of_a_listing_lines_up() -> None:
    """Cars of different sizes and places in their photos land on the same line and width."""
    frame = {"aspect": "4:3", "subject_width": 0.8, "ground": 0.85}
    boxes = []
    for size, car in (
        ((1600, 1000), (300, 400, 1300, 800)),
        ((1200, 1200), (100, 200, 700, 500)),
        ((2000, 900), (900, 100, 1900, 500)),
    ):
        image, _ = _master(encode(car_cutout(size, car)), frame)
        box = content_box(image)
        assert box is not None
        boxes.append([v / image.width for v in box])
    spread = np.ptp(np.array(boxes)[:, [0, 2, 3]], axis=0)
    assert (spread < 0.01).all()


def test_tall_vehicle_is_scaled_to_fit_under_the_top() -> None:
    # A box taller than wide: at 80 % of the width its roof would leave the canvas.
    data = encode(car_cutout((1000, 1400), (300, 100, 700, 1300)))
    image, _ = _master(data, {"aspect": "16:9", "subject_width": 0.8, "ground": 0.85})
    box = content_box(image)
    assert box is not None
    assert box[1] >= 0.02 * image.height  # roof inside the canvas
    assert box[3] / image.height == pytest.approx(0.85, abs=0.01)  # wheels still on the line
    assert (box[2] - box[0]) / image.width < 0.8


def test_frame_crop_box_maps_back_to_the_original() -> None:
    data = encode(car_cutout((1600, 1000), (300, 400, 1300, 800)))
    _, metadata = _master(data, {"aspect": "4:3", "subject_width": 0.8, "ground": 0.85})
    left, top, right, bottom = metadata["crop_box"]
    # The car is 1000 px wide in the original and spans 80 % of the window.
    assert right - left == pytest.approx(1250, abs=2)
    assert (right - left) / (bottom - top) == pytest.approx(4 / 3, abs=0.01)
    assert bottom - 800 == pytest.approx(0.15 * (bottom - top), abs=2)


def test_frame_with_background_is_opaque() -> None:
    data = encode(car_cutout((1600, 1000), (300, 400, 1300, 800)))
    image, _ = _master(data, {"aspect": "4:3"}, background="#102030")
    assert image.mode == "RGB"
    assert image.getpixel((2, 2)) == (16, 32, 48)
