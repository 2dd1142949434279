"""The view renderer: the car inside the frame, exact tyre ground truth, flaws as they claim."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from PIL import Image

from bench.synthetic import KINDS
from bench.views import VIEWS, ViewRender, render_logo, render_studio, render_view

W, H = 900, 600
REAR_LEFT, FRONT_LEFT, REAR_RIGHT, FRONT_RIGHT = range(4)


@cache
def _render(kind: str, view: str, flaws: frozenset[str] = frozenset()) -> ViewRender:
    return render_view(W, H, kind=kind, view=view, seed=3, flaws=flaws)


def _alpha(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A")).astype(int)


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("kind", KINDS)
def test_the_car_stands_inside_the_frame_on_its_tyres(kind: str, view: str) -> None:
    out = _render(kind, view)
    assert out.cutout.mode == "RGBA" and out.cutout.size == (W, H)
    assert out.photo.mode == "RGB" and out.photo.size == (W, H)
    alpha = _alpha(out.cutout)
    x0, y0, x1, y1 = out.box
    assert 0 < x0 < x1 < W and 0 < y0 < y1 < H
    assert (alpha[:, :x0] <= 10).all() and (alpha[:, x1:] <= 10).all()
    assert (alpha[y1:] <= 10).all() and alpha[y0:y1, x0:x1].max() == 255
    # The car is scale (0.6) of the width wide unless it had to shrink to fit the height.
    assert (x1 - x0) / W <= 0.61
    assert len(out.tyres) == 4
    near = [t for t in out.tyres if t.near]
    assert len(near) == 2 and all(t.visible for t in near)
    assert 0.80 * H <= max(t.y for t in near) <= 0.85 * H
    for tyre in out.tyres:
        if tyre.visible:
            x, y = round(tyre.x), round(tyre.y)
            assert alpha[y - 2, x] > 200, (tyre, alpha[y - 2, x])
            assert alpha[y + 4, x] < 20, (tyre, alpha[y + 4, x])
        elif 2 <= tyre.x < W and 2 <= tyre.y < H:
            # Hidden means covered: something opaque stands in front of the contact point.
            assert alpha[round(tyre.y) - 2, round(tyre.x)] > 200, tyre


@pytest.mark.parametrize("view", ["front34", "rear34"])
@pytest.mark.parametrize("kind", KINDS)
def test_three_quarter_views_put_far_tyres_5_to_10_percent_higher(kind: str, view: str) -> None:
    """The far tyre of the axle facing the camera (the one that peeks out in a real photo) stands
    5 to 10 % of the height above its near partner; the other axle, farther away, rises less."""
    tyres = _render(kind, view).tyres
    pairs = [(FRONT_LEFT, FRONT_RIGHT), (REAR_LEFT, REAR_RIGHT)]
    if view == "rear34":
        pairs.reverse()
    rises = []
    for near, far in pairs:
        assert tyres[near].near and not tyres[far].near
        rises.append((tyres[near].y - tyres[far].y) / H)
    assert 0.05 <= rises[0] <= 0.10, rises
    assert 0.02 <= rises[1] < rises[0], rises


@pytest.mark.parametrize("kind", KINDS)
def test_the_view_from_above_raises_the_far_tyres_further(kind: str) -> None:
    low, high = _render(kind, "front34").tyres, _render(kind, "above34").tyres
    rise_low = low[FRONT_LEFT].y - low[FRONT_RIGHT].y
    rise_high = high[FRONT_LEFT].y - high[FRONT_RIGHT].y
    assert rise_high > 1.4 * rise_low


@pytest.mark.parametrize("view", ["front", "rear"])
@pytest.mark.parametrize("kind", KINDS)
def test_head_on_views_have_both_near_tyres_level(kind: str, view: str) -> None:
    near = [t for t in _render(kind, view).tyres if t.near]
    assert abs(near[0].y - near[1].y) <= 0.01 * H
    assert abs((near[0].x + near[1].x) / 2 - W / 2) <= 0.01 * W
    axle = (FRONT_LEFT, FRONT_RIGHT) if view == "front" else (REAR_LEFT, REAR_RIGHT)
    assert {i for i, t in enumerate(_render(kind, view).tyres) if t.near} == set(axle)


def test_the_side_view_hides_the_far_tyres_behind_the_near_ones() -> None:
    tyres = _render("sedan", "side").tyres
    assert [t.visible for t in tyres] == [True, True, False, False]
    assert tyres[REAR_LEFT].y == pytest.approx(tyres[FRONT_LEFT].y)
    assert tyres[FRONT_LEFT].x > tyres[REAR_LEFT].x  # the car faces right


def test_same_arguments_give_the_same_pixels() -> None:
    flaws = frozenset({"ragged", "speckles"})
    a = render_view(400, 300, kind="suv", view="rear34", seed=5, flaws=flaws)
    b = render_view(400, 300, kind="suv", view="rear34", seed=5, flaws=flaws)
    assert a.cutout.tobytes() == b.cutout.tobytes() and a.photo.tobytes() == b.photo.tobytes()
    assert a.tyres == b.tyres and a.box == b.box
    c = render_view(400, 300, kind="suv", view="rear34", seed=6, flaws=flaws)
    assert c.cutout.tobytes() != a.cutout.tobytes()


def test_the_photo_is_the_cutout_in_a_studio() -> None:
    out = _render("hatchback", "front34")
    alpha = _alpha(out.cutout)
    photo = np.asarray(out.photo).astype(int)
    cut = np.asarray(out.cutout.convert("RGB")).astype(int)
    solid = alpha == 255
    assert np.abs(photo[solid] - cut[solid]).mean() < 4  # only grain on the car
    assert photo[alpha == 0].mean() > 150  # a light studio around it
    # A floor shadow under the car: darker just below the near front tyre than far to its side.
    tyre = out.tyres[FRONT_LEFT]
    x, y = round(tyre.x), round(tyre.y)
    assert photo[y + 3, x].mean() < photo[y + 3, 20].mean() - 20


def test_ground_shadow_leaves_semi_transparent_floor_under_the_tyres() -> None:
    clean = _alpha(_render("sedan", "front34").cutout)
    out = _render("sedan", "front34", frozenset({"ground_shadow"}))
    flawed = _alpha(out.cutout)
    for tyre in out.tyres:
        if tyre.near:
            x, y = round(tyre.x), round(tyre.y)
            patch = flawed[y + 3 : y + 8, x - 3 : x + 4]
            assert clean[y + 3 : y + 8, x - 3 : x + 4].max() < 20
            assert patch.min() >= 60 and patch.max() <= 170, patch
    grew = flawed[clean < 5] > 40
    rows = np.nonzero((flawed > 40) & (clean < 5))[0]
    assert grew.any() and (rows.max() - rows.min()) < 0.25 * H
    assert (flawed[clean < 5] <= 170).all()


def test_ragged_frays_the_lower_edge() -> None:
    clean = _alpha(_render("suv", "side").cutout)
    out = _render("suv", "side", frozenset({"ragged"}))
    flawed = _alpha(out.cutout)
    ground = round(max(t.y for t in out.tyres))
    band = slice(ground - round(0.03 * H), ground + 3)

    def soft(a: np.ndarray) -> int:
        return int(((a > 20) & (a < 235)).sum())

    assert soft(flawed[band]) > 1.5 * soft(clean[band])
    # The lowest opaque pixel of each column moves by a few pixels, not more.
    rows = np.arange(H)[:, None]
    cols = (clean > 128).any(axis=0) & (flawed > 128).any(axis=0)
    lift = ((clean > 128) * rows).max(axis=0) - ((flawed > 128) * rows).max(axis=0)
    assert 1 <= lift[cols].mean() <= 6 and lift[cols].max() <= 10 and lift[cols].std() > 0.5
    assert (flawed[: out.box[1] - 3] == 0).all()  # nothing grows far above the car


def test_speckles_scatter_small_blobs_in_the_background() -> None:
    clean = _render("pickup", "rear34")
    flawed = _alpha(_render("pickup", "rear34", frozenset({"speckles"})).cutout)
    x0, y0, x1, y1 = clean.box
    outside = flawed.copy()
    outside[max(0, y0 - 4) : y1 + 4, max(0, x0 - 4) : x1 + 4] = 0
    assert (outside > 200).sum() >= 3 and ((outside > 30) & (outside < 200)).sum() >= 3
    # Small blobs, not a stain: a few pixels each, a few of them.
    assert (outside > 0).sum() < 400


def test_second_car_enters_from_an_edge_on_the_same_floor() -> None:
    clean = _render("sedan", "front34")
    out = _render("sedan", "front34", frozenset({"second_car"}))
    alpha, before = _alpha(out.cutout), _alpha(clean.cutout)
    assert (before[:, -1] == 0).all()
    edge = np.nonzero(alpha[:, -1] > 200)[0]
    assert len(edge) > 0.05 * H
    # It stands on the same floor: its lowest opaque pixel is near the main car's tyres.
    column = alpha[:, -8:]
    lowest = np.nonzero((column > 200).any(axis=1))[0].max()
    ground = [t.y for t in out.tyres]
    assert min(ground) - 0.1 * H <= lowest <= max(ground) + 0.05 * H
    assert out.box[2] == W and out.tyres == clean.tyres


def test_render_studio_is_a_wall_over_a_lighter_floor() -> None:
    studio = render_studio(640, 400, floor=0.7, seed=1)
    assert studio.mode == "RGB" and studio.size == (640, 400)
    grey = np.asarray(studio.convert("L")).astype(float)
    wall, floor = grey[: int(0.55 * 400)].mean(), grey[int(0.8 * 400) :].mean()
    assert floor > wall + 10
    assert render_studio(640, 400, floor=0.7, seed=1).tobytes() == studio.tobytes()
    with pytest.raises(ValueError):
        render_studio(640, 400, floor=1.5)


def test_render_logo_is_a_soft_badge_on_transparency() -> None:
    logo = render_logo(300, text="MOTORS")
    assert logo.mode == "RGBA" and logo.size == (300, 100)
    alpha = _alpha(logo)
    assert alpha[0, 0] == alpha[0, -1] == alpha[-1, 0] == alpha[-1, -1] == 0
    assert alpha[40:60, 100:200].min() > 200
    assert ((alpha > 0) & (alpha < 200)).any()  # soft edges
    rgb = np.asarray(logo.convert("RGB")).astype(int)[30:70, 40:260]
    assert (rgb.min(axis=2) > 220).sum() > 100  # the light text on the badge
