"""Studio backdrops and logos: the canvas is the studio, the floor darkens under the car, the
studio is untouched elsewhere, edges are clean, the logo sits where asked on every variant."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bench.views import render_logo, render_studio, render_view
from daemon.domain.errors import ImageTooLarge, InvalidOptions
from daemon.pipeline import Asset, Assets, Limits, decode_asset, parse_options, process_image
from daemon.pipeline.backdrop import decontaminate_edges
from daemon.pipeline.resample import REDUCING_GAP, RESAMPLE
from daemon.pipeline.watermark import logo_box

STUDIO_SIZE = (1600, 1000)
FLOOR = 0.8
MASTER = {"name": "processed", "max_width": 2560, "max_height": 2560, "format": "png"}
GRID = {"name": "grid", "width": 640, "height": 480, "format": "png"}


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _studio(colour: tuple[int, int, int] | None = None) -> Asset:
    if colour is None:
        image = render_studio(*STUDIO_SIZE, floor=FLOOR)
    else:
        image = Image.new("RGB", STUDIO_SIZE, colour)
    return Asset("studio/showroom.jpg", image)


def _run(
    data: bytes, backdrop: Asset, extra: dict[str, object] | None = None
) -> tuple[dict[str, Image.Image], dict[str, object]]:
    options = parse_options(
        {
            "backdrop": {"path": backdrop.path, "floor": FLOOR},
            "variants": [MASTER, GRID],
            **(extra or {}),
        }
    )
    result = process_image(data, options, assets=Assets(backdrop=backdrop))
    images = {
        name: Image.open(io.BytesIO(v.data)).convert("RGB") for name, v in result.variants.items()
    }
    return images, result.metadata


def test_the_vehicle_stands_on_the_floor_line_of_the_studio() -> None:
    car = render_view(1800, 1200, view="front34")
    studio = _studio()
    images, metadata = _run(_png(car.cutout), studio)
    assert images["processed"].size == STUDIO_SIZE  # the backdrop makes the canvas
    assert metadata["has_shadow"] is True
    # Its lowest tyre on the floor line, its width 0.8 of the canvas (frame.subject_width).
    bare, _ = _run(_png(car.cutout), studio, {"add_shadow": False})
    plain = np.asarray(studio.image).astype(int)
    out = np.asarray(bare["processed"]).astype(int)
    changed = np.abs(out - plain).sum(axis=2) > 60  # the car alone
    rows, cols = np.nonzero(changed)
    assert abs(rows.max() - FLOOR * STUDIO_SIZE[1]) <= 6
    assert abs((cols.max() - cols.min()) - 0.8 * STUDIO_SIZE[0]) <= 0.03 * STUDIO_SIZE[0]


def test_the_studio_is_untouched_away_from_the_car_and_darker_under_it() -> None:
    car = render_view(1800, 1200, view="side")
    studio = _studio()
    images, _ = _run(_png(car.cutout), studio)
    plain = np.asarray(studio.image).astype(int)
    out = np.asarray(images["processed"]).astype(int)
    # The wall above the roof and the floor's corners are the studio's own pixels.
    assert np.abs(out[:60] - plain[:60]).max() <= 1
    assert np.abs(out[-40:, :120] - plain[-40:, :120]).max() <= 1
    # Under the car the floor is darker, by a multiply: its colour's proportions stay.
    floor_row = round(FLOOR * STUDIO_SIZE[1]) + 4
    under = out[floor_row, 700:900].mean(axis=0)
    bare = plain[floor_row, 700:900].mean(axis=0)
    assert (under < bare - 15).all()
    ratio = under / bare
    assert ratio.max() - ratio.min() < 0.05  # darker, not greyer


@pytest.mark.parametrize("floor", [(20, 20, 24), (180, 40, 40), (40, 160, 60)])
def test_edges_are_clean_against_any_floor(
    floor: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mask applied to a photo of a white studio: the soft edge carries the old white wall.
    On a dark or coloured floor it must not show as a light halo: the edge looks as it would
    had the car been cut out of nothing."""
    car = render_view(1800, 1200, view="side").cutout
    soft = car.getchannel("A").resize((600, 400)).resize(car.size)  # a soft mask
    on_white = Image.new("RGB", car.size, (255, 255, 255))
    on_white.paste(car, (0, 0), car)
    contaminated, truth = on_white.convert("RGBA"), car.copy()
    contaminated.putalpha(soft)
    truth.putalpha(soft)
    studio = _studio(floor)
    extra = {"add_shadow": False}
    ideal = np.asarray(_run(_png(truth), studio, extra)[0]["processed"]).astype(int)
    ours = np.asarray(_run(_png(contaminated), studio, extra)[0]["processed"]).astype(int)
    import daemon.pipeline.steps as steps

    monkeypatch.setattr(steps, "decontaminate_edges", lambda layer: None)
    naive = np.asarray(_run(_png(contaminated), studio, extra)[0]["processed"]).astype(int)
    # The ring of edge pixels: where the naive composite differs from the ideal at all.
    ring = np.abs(naive - ideal).sum(axis=2) > 30
    assert ring.sum() > 500
    naive_error = np.abs(naive - ideal)[ring].mean()
    our_error = np.abs(ours - ideal)[ring].mean()
    assert naive_error > 25  # the halo this test is about
    assert our_error < 0.4 * naive_error


@pytest.mark.parametrize("phase", range(4))
def test_a_thin_dark_trim_at_the_outline_keeps_its_colour(phase: int) -> None:
    """A white car whose outline is a 3 px black rubber seal, its soft edge cut from a white
    wall: the edge takes the seal's colour, the one next to it, not the white body's behind it
    (which on a dark floor would show as the grey halo this cleaning is there to remove)."""
    pixels = np.zeros((60, 60, 4), np.uint8)
    top = 20 + phase  # every position against the reduced grid the colours are spread on
    pixels[top + 3 :] = (235, 235, 235, 255)  # the body
    pixels[top : top + 3] = (15, 15, 15, 255)  # the seal
    pixels[top - 1] = (250, 250, 250, 110)  # the soft edge, mixed with the white wall
    pixels[top - 2] = (252, 252, 252, 35)
    layer = Image.fromarray(pixels, "RGBA")
    decontaminate_edges(layer)
    edge = np.asarray(layer)[top - 2 : top, 5:55].astype(int)
    assert edge[..., :3].max() <= 40, edge[:, 30]
    assert (edge[..., 3] == pixels[top - 2 : top, 5:55, 3]).all()  # the shape is kept


def test_the_shadow_next_to_a_red_car_darkens_the_floor_without_tinting_it() -> None:
    """The shadow's pixels are soft-alpha pixels like an edge's, but they are black: cleaning
    the car's edges must not give the shadow next to the car the car's colour."""
    car = render_view(1800, 1200, view="front", colour=(200, 16, 16)).cutout
    studio = _studio((150, 150, 150))
    shadowed = np.asarray(_run(_png(car), studio)[0]["processed"]).astype(int)
    bare = np.asarray(_run(_png(car), studio, {"add_shadow": False})[0]["processed"]).astype(int)
    # The shadow alone: where the car itself left the floor as it was, and the shadow darkened it.
    floor_only = np.abs(bare - 150).max(axis=2) <= 1
    shadow = floor_only & (shadowed.max(axis=2) < 150 - 6)
    assert shadow.sum() > 2000
    reds, greens, blues = (shadowed[..., c][shadow] for c in range(3))
    assert np.abs(reds - greens).max() <= 3  # darker grey, never pink
    assert np.abs(greens - blues).max() <= 3


def test_the_grid_variant_fits_the_whole_studio_shot() -> None:
    images, _ = _run(_png(render_view(1800, 1200, view="rear34").cutout), _studio())
    grid = images["grid"]
    assert grid.size == (640, 480)
    # The studio (16:10) fitted whole: letterboxed top and bottom, the full width used.
    content = np.asarray(grid).astype(int)
    expected_height = round(640 * STUDIO_SIZE[1] / STUDIO_SIZE[0])
    bars = (480 - expected_height) // 2
    assert (content[bars + 2 : 480 - bars - 2, 2] != 255).any()


def test_a_smaller_variant_is_the_master_resized() -> None:
    """Only the car's part of a studio variant is resampled from the canvas (the rest is the
    studio at that size): it must still be the master, resized."""
    small = {"name": "small", "max_width": 700, "format": "png"}
    car = render_view(1800, 1200, view="front34")
    images, _ = _run(_png(car.cutout), _studio(), {"variants": [MASTER, small]})
    master, out = images["processed"], images["small"]
    resized = master.resize(out.size, RESAMPLE, reducing_gap=REDUCING_GAP)
    difference = np.abs(np.asarray(out).astype(int) - np.asarray(resized).astype(int))
    assert difference.max() <= 3  # the studio resampled once instead of twice
    assert difference.mean() < 0.5


def test_a_huge_backdrop_is_image_too_large_and_a_broken_one_invalid_options() -> None:
    limits = Limits(max_pixels=50_000_000)
    huge = io.BytesIO()
    Image.new("RGB", (20_000, 3_000)).save(huge, format="PNG")
    with pytest.raises(ImageTooLarge, match=r"studio/huge\.png"):
        decode_asset(huge.getvalue(), "studio/huge.png", "backdrop", limits)
    with pytest.raises(InvalidOptions, match=r"studio/notes\.txt"):
        decode_asset(b"this is no image", "studio/notes.txt", "backdrop", limits)


@pytest.mark.parametrize(
    ("position", "corner"),
    [
        ("bottom-right", (1, 1)),
        ("top-left", (0, 0)),
        ("top-right", (1, 0)),
        ("bottom-left", (0, 1)),
    ],
)
def test_the_logo_sits_where_asked_on_every_variant(position: str, corner: tuple[int, int]) -> None:
    logo = Asset("logos/dealer.png", render_logo(600))
    options = parse_options(
        {
            "background": "#ffffff",
            "add_shadow": False,
            "frame": {"aspect": "4:3", "subject_width": 0.4, "ground": 0.6},  # empty corners
            "watermark": {"path": logo.path, "position": position, "width": 0.2, "margin": 0.03},
            "variants": [MASTER, {"name": "small", "max_width": 500, "format": "png"}],
        }
    )
    car = render_view(1600, 1000, view="side")
    result = process_image(_png(car.cutout), options, assets=Assets(logo=logo))
    for variant in result.variants.values():
        image = np.asarray(Image.open(io.BytesIO(variant.data)).convert("RGB")).astype(int)
        width, height = variant.width, variant.height
        left, top, right, bottom = logo_box((width, height), logo.size, options.watermark)  # type: ignore[arg-type]
        assert abs((right - left) - 0.2 * width) <= 1
        margin = round(0.03 * width)
        assert (left == margin) if corner[0] == 0 else (width - right == margin)
        assert (top == margin) if corner[1] == 0 else (height - bottom == margin)
        # The badge's dark blue is there, and where the logo is transparent the photo shows.
        patch = image[top:bottom, left:right]
        assert (patch[..., 2] - patch[..., 0] > 40).mean() > 0.2
        clear = np.asarray(logo.resized((right - left, bottom - top)).getchannel("A")) == 0
        assert clear.any() and (patch[clear] >= 250).all()


def test_a_logo_is_resampled_once_per_size_and_shared_by_jobs() -> None:
    logo = Asset("logos/dealer.png", render_logo(600))
    calls: list[tuple[int, int]] = []
    original = logo.image.resize

    def counting(size, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(tuple(size))
        return original(size, *args, **kwargs)

    logo.image.resize = counting  # type: ignore[method-assign]
    options = parse_options(
        {
            "watermark": {"path": logo.path, "opacity": 0.5},
            "variants": [MASTER, {"name": "small", "max_width": 500, "format": "png"}],
        }
    )
    data = _png(render_view(1600, 1000, view="side").cutout)
    for _ in range(3):  # three jobs
        process_image(data, options, assets=Assets(logo=logo))
    assert len(calls) == len(set(calls)) == 2  # one resample per variant size, ever
