"""The contact shadow grounds every tyre, in every view, on clean and on imperfect cutouts.

Measured on synthetic cars (bench/views.py) whose tyres' ground contacts are known exactly: the
shadow just below each visible tyre, where the car itself is not, must be dark and comparably
dark for near and far (higher) tyres; a bumper hanging in the air gets no contact; a subject cut
off by the photo's bottom edge gets no shadow band at all.
"""

from __future__ import annotations

import io
import math
from functools import cache

import numpy as np
import pytest
from PIL import Image

from bench.views import ViewRender, render_view
from daemon.pipeline import parse_options, process_image
from daemon.pipeline.ground import find_ground

# The canvas is the photo itself, so the ground truth's coordinates hold in the output.
WHOLE = parse_options(
    {
        "auto_crop": False,
        "variants": [{"name": "p", "max_width": 4000, "max_height": 4000, "format": "png"}],
    }
)
GROUNDED_VIEWS = ("side", "front", "rear", "front34", "rear34")
FLAWS = (
    frozenset(),
    frozenset({"ragged"}),
    frozenset({"ground_shadow"}),
    frozenset({"speckles"}),
    frozenset({"second_car"}),
    frozenset({"ragged", "ground_shadow", "speckles"}),
)


@cache
def _render(view: str, flaws: frozenset[str] = frozenset(), kind: str = "sedan") -> ViewRender:
    return render_view(1200, 800, view=view, flaws=flaws, kind=kind)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _shadow_alpha(view: str, flaws: frozenset[str], kind: str = "sedan") -> np.ndarray:
    result = process_image(_png(_render(view, flaws, kind).cutout), WHOLE)
    image = Image.open(io.BytesIO(result.variants["p"].data)).convert("RGBA")
    return np.asarray(image)[..., 3].astype(int)


def _under(alpha: np.ndarray, car: np.ndarray, x: float, y: float) -> int:
    """The darkest shadow in a small window just below a contact point, off the car."""
    xi, yi = round(x), round(y)
    window = alpha[yi + 2 : yi + 7, xi - 3 : xi + 4]
    free = car[yi + 2 : yi + 7, xi - 3 : xi + 4] < 20
    assert free.any(), "the window below the tyre is covered by the car"
    return int(window[free].max())


@pytest.mark.parametrize("flaws", FLAWS, ids=lambda f: "+".join(sorted(f)) or "clean")
@pytest.mark.parametrize("view", GROUNDED_VIEWS)
def test_every_visible_tyre_stands_in_a_comparably_dark_shadow(
    view: str, flaws: frozenset[str]
) -> None:
    clean = _render(view)
    car = np.asarray(clean.cutout)[..., 3].astype(int)  # the car without the flaws
    alpha = _shadow_alpha(view, flaws)
    darkness = [_under(alpha, car, t.x, t.y) for t in clean.tyres if t.visible]
    assert len(darkness) >= 2
    assert min(darkness) >= 60, darkness  # no tyre floats
    assert min(darkness) >= 0.45 * max(darkness), darkness  # far ones as grounded as near ones


# Known gaps, seen steeply from above: the far ground falls so fast towards the camera that
# the lower hull passes under a tyre's flat bottom (the rear tyre of the pickup gets no contact)
# or a ragged rim hides a near tyre's shape. Strict: each will say so once it is fixed.
_FROM_ABOVE_GAPS = {
    ("suv", "ragged"),
    ("hatchback", "ragged"),
    ("hatchback", "second_car"),
    ("pickup", "clean"),
    ("pickup", "speckles"),
    ("pickup", "second_car"),
}


def _from_above_cases() -> list[object]:
    cases: list[object] = []
    for kind in ("sedan", "suv", "hatchback", "pickup"):
        extra = (frozenset({"speckles", "second_car"}),) if kind == "sedan" else ()
        for flaws in (*FLAWS, *extra):
            name = "+".join(sorted(flaws)) or "clean"
            marks = (
                [pytest.mark.xfail(strict=True, reason="steep view from above (known gap)")]
                if (kind, name) in _FROM_ABOVE_GAPS
                else []
            )
            cases.append(pytest.param(kind, flaws, marks=marks, id=f"{kind}-{name}"))
    return cases


@pytest.mark.parametrize(("kind", "flaws"), _from_above_cases())
def test_a_car_photographed_from_above_is_grounded_too(kind: str, flaws: frozenset[str]) -> None:
    """From above, the nose stands lower in the picture than the near tyres."""
    clean = _render("above34", kind=kind)
    car = np.asarray(clean.cutout)[..., 3].astype(int)
    alpha = _shadow_alpha("above34", flaws, kind)
    darkness = [_under(alpha, car, t.x, t.y) for t in clean.tyres if t.visible]
    assert len(darkness) >= 2 and min(darkness) >= 60, darkness
    assert min(darkness) >= 0.45 * max(darkness), darkness


def test_far_tyres_stand_higher_in_the_three_quarter_views() -> None:
    """The case the old flat band failed: contacts at different heights are all found."""
    for view in ("front34", "rear34"):
        render = _render(view)
        heights = sorted(t.y for t in render.tyres if t.visible)
        assert heights[-1] - heights[0] > 0.05 * 800  # the views are what they claim
        alpha = render.cutout.getchannel("A")
        ground = find_ground(alpha, alpha.getbbox())  # type: ignore[arg-type]
        assert ground is not None
        found = sorted(y for _x, y in ground.contacts)
        assert abs(found[0] - heights[0]) <= 8 and abs(found[-1] - heights[-1]) <= 8


@pytest.mark.parametrize("kind", ["sedan", "hatchback", "suv", "pickup"])
@pytest.mark.parametrize("view", ["front34", "rear34"])
def test_a_three_quarter_view_stands_on_its_tyres_alone(view: str, kind: str) -> None:
    """The listing's opening shot: the bumper ahead of the near tyre hangs in the air (a flat
    bottom, then the wheel arch) and is no contact; every support found is a tyre's."""
    render = render_view(1800, 1200, view=view, kind=kind)
    alpha = render.cutout.getchannel("A")
    ground = find_ground(alpha, alpha.getbbox())  # type: ignore[arg-type]
    assert ground is not None
    tyres = [(t.x, t.y) for t in render.tyres if t.visible]
    for x, y in ground.contacts:
        assert min(math.dist((x, y), tyre) for tyre in tyres) <= 0.03 * 1800, (x, y, tyres)


def test_a_side_view_keeps_its_shadow_under_the_tyres_not_under_the_bumpers() -> None:
    render = _render("side")
    car = np.asarray(render.cutout)[..., 3].astype(int)
    alpha = _shadow_alpha("side", frozenset())
    tyres = [_under(alpha, car, t.x, t.y) for t in render.tyres if t.visible]
    # The bumpers' corners hang in the air at each end: no contact there, only a soft shade.
    columns = np.flatnonzero(car.max(axis=0) > 200)
    for x in (columns[0] + 3, columns[-1] - 3):
        lowest = int(np.flatnonzero(car[:, x] > 200).max())
        assert alpha[lowest + 3, x] < 0.6 * min(tyres)


def test_a_cutout_cut_off_by_the_bottom_edge_gets_no_shadow_band() -> None:
    """A detail or interior shot: the subject runs out of the photo, there is no ground."""
    detail = _render("side").cutout.crop((300, 450, 900, 650))  # the doors, cut at the sills
    result = process_image(_png(detail), WHOLE)
    assert result.metadata["has_shadow"] is False
    image = Image.open(io.BytesIO(result.variants["p"].data)).convert("RGBA")
    original = np.asarray(detail)[..., 3]
    assert (np.asarray(image)[..., 3] == original).all()  # nothing was added anywhere


def test_a_leftover_floor_shadow_in_the_cutout_is_replaced() -> None:
    dirty = _render("front", frozenset({"ground_shadow"}))
    clean = _render("front")
    alpha = _shadow_alpha("front", frozenset({"ground_shadow"}))
    # Between the tyres, a little below their contacts: the cutout's grey patch is gone and the
    # contact shadow is what is there now, as on the clean cutout.
    tyres = sorted((t for t in clean.tyres if t.visible), key=lambda t: t.x)
    x = round((tyres[0].x + tyres[-1].x) / 2)
    y = round(tyres[0].y) + 12
    dirty_alpha = np.asarray(dirty.cutout)[..., 3].astype(int)
    assert dirty_alpha[y - 6 : y + 6, x - 20 : x + 20].mean() > 20  # the flaw is there
    assert abs(alpha[y, x] - _shadow_alpha("front", frozenset())[y, x]) <= 25
