"""Where the vehicle meets the ground, read from its alpha alone.

A car rests on its tyres. In a side view both tyres stand on one line; in a front or rear 3/4 view
(the shot most listings open with) the far tyres stand higher in the picture than the near ones,
and the ground under the car runs from one contact to the next. So the ground is found, not
assumed to be the lowest row:

1. the silhouette's lower edge, one value per column, from a reduced, thresholded alpha with
   speckles and thin leftover ground shadow opened away (real cutouts carry both);
2. its lower convex hull: the car cannot dip below a line between two of its supports;
3. the supports: the ends of the hull edge under the silhouette's centre (the car's weight is
   there: near tyres, or the whole bottom of a box), then, going outwards, every further hull
   vertex that is shaped like a tyre (the edge rises on both sides within a tyre's width). A
   bumper corner has a flat run on one side and is left out, so it gets no contact shadow;
4. the ground line: piecewise linear through the supports, flat beyond the outermost ones.

The shadow step draws along that line, and shades each column by how far the silhouette hangs
above it there: a tyre (gap 0) gets the dark contact, a sill a soft shade, a bumper in the air
next to nothing.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from daemon.pipeline.crop import Box, open_mask

FloatArray = NDArray[np.float64]

# Alpha at or above this is the vehicle. Above the half-way mark so that a leftover ground
# shadow (semi-transparent) and feathered edges do not count as the body.
SOLID_ALPHA = 96
# The analysis runs on the lower edge at about this many columns: plenty for a tyre a few
# percent of the width wide, and cheap whatever the canvas size.
ANALYSIS_COLUMNS = 640
# Shares of the silhouette's width (see the module docstring, step 3).
TYRE_REACH = 0.06  # a tyre's edge rises within this distance of its lowest point...
TYRE_RISE = 0.006  # ...by at least this much...
HULL_TOLERANCE = 0.0025  # ...without first going lower than this below it.
PATCH_GAP = 0.02  # hull vertices closer than this belong to one contact patch
# A soft rim below the solid edge (alpha down to RIM_ALPHA) still belongs to the tyre, for at
# most this share of the width.
SOFT_RIM = 0.012
RIM_ALPHA = 48
# Leftover ground shadow thinner than this (share of the width) is not the vehicle.
THIN_STRIP = 0.012


@dataclass(frozen=True)
class Ground:
    """The ground under a subject, in canvas pixels.

    `edge[i]` is the silhouette's lowest solid row in column `left + i` (NaN where the column is
    empty) and `line[i]` the ground's row there; both cover the subject's columns.
    """

    left: int
    edge: FloatArray
    line: FloatArray
    contacts: tuple[tuple[float, float], ...]  # (x, y) of each support, left to right

    @property
    def right(self) -> int:
        return self.left + len(self.line)

    @property
    def lowest(self) -> float:
        """The lowest ground row (the near tyres)."""
        return float(self.line.max())

    @property
    def highest(self) -> float:
        """The highest ground row (the far tyres in a 3/4 view)."""
        return float(self.line.min())

    def gap(self) -> FloatArray:
        """Per column, how far the silhouette hangs above the ground (inf where empty)."""
        gap = self.line - self.edge
        return np.where(np.isnan(gap), np.inf, np.maximum(gap, 0.0))


def find_ground(alpha: Image.Image, box: Box, *, cut_off: bool = False) -> Ground | None:
    """The ground under the silhouette in `alpha` (an L image) within `box`.

    None when there is no ground to stand on: nothing solid, or the subject is cut off by the
    bottom of the photo (`cut_off`: a detail or interior shot), where a shadow would be a band
    across the frame.
    """
    left, top, right, bottom = box
    width = right - left
    if cut_off or width < 4 or bottom - top < 4:
        return None
    factor = max(1, math.ceil(width / ANALYSIS_COLUMNS))
    window = alpha.crop(box)
    small = window.reduce(factor) if factor > 1 else window
    solid = _clean(np.asarray(small) >= SOLID_ALPHA)
    edge_small = _lower_edge(solid)
    if np.isnan(edge_small).all():
        return None
    contacts_small = _supports(edge_small, solid)
    # Back to canvas pixels: column centres, and the row below the lowest solid one.
    contacts = tuple((left + (x + 0.5) * factor, top + y * factor) for x, y in contacts_small)
    columns = np.arange(left, right, dtype=np.float64) + 0.5
    small_x = left + (np.arange(len(edge_small)) + 0.5) * factor
    known = ~np.isnan(edge_small)
    edge = np.interp(columns, small_x[known], top + edge_small[known] * factor)
    # Columns beyond the solid silhouette stay empty.
    first, last = small_x[known][0] - factor / 2, small_x[known][-1] + factor / 2
    edge[(columns < first) | (columns > last)] = np.nan
    edge, contacts = _soft_edge(np.asarray(window), edge, contacts, left, top)
    xs = np.array([c[0] for c in contacts])
    ys = np.array([c[1] for c in contacts])
    line = np.interp(columns, xs, ys)
    return Ground(left=left, edge=edge, line=line, contacts=contacts)


def _soft_edge(
    alpha: NDArray[np.uint8],
    edge: FloatArray,
    contacts: tuple[tuple[float, float], ...],
    left: int,
    top: int,
) -> tuple[FloatArray, tuple[tuple[float, float], ...]]:
    """The lower edge carried down through a soft (feathered, ragged) rim to where the tyre
    really ends: a cutout often fades its last few rows, and the ground is below them."""
    reach = max(2, round(SOFT_RIM * len(edge)))
    h = alpha.shape[0]
    known = ~np.isnan(edge)
    start = np.where(known, edge, 0).astype(int) - top
    depth = np.zeros(len(edge))
    running = known.copy()
    cols = np.arange(len(edge))
    for d in range(reach):
        rows = start + d
        inside = running & (rows >= 0) & (rows < h)
        values = np.zeros(len(edge), dtype=np.uint8)
        values[inside] = alpha[rows[inside], cols[inside]]
        running = inside & (values >= RIM_ALPHA)
        depth += running
        if not running.any():
            break
    soft = np.where(known, edge + depth, np.nan)
    last = len(depth) - 1
    moved = tuple((x, y + float(depth[min(last, max(0, int(x) - left))])) for x, y in contacts)
    return soft, moved


def _clean(solid: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Open away speckles (a few pixels across) and thin horizontal strips (leftover shadow)."""
    h, w = solid.shape
    if h < 8 or w < 8:
        return solid
    image = Image.fromarray(solid.astype(np.uint8) * 255, "L")
    opened = np.asarray(open_mask(image, 2 if w >= 320 else 1)) > 0
    strip = max(2, round(THIN_STRIP * w))
    if strip < h:
        opened = _open_vertically(opened, strip)
    return opened


def _open_vertically(mask: NDArray[np.bool_], length: int) -> NDArray[np.bool_]:
    """Keep the runs of each column that are at least `length` rows long."""
    windows = np.lib.stride_tricks.sliding_window_view(mask, length, axis=0)
    eroded: NDArray[np.bool_] = np.asarray(windows.all(axis=-1))  # where a full run starts
    padded = np.zeros((mask.shape[0] + length - 1, mask.shape[1]), dtype=bool)
    padded[length - 1 : length - 1 + eroded.shape[0]] = eroded
    grown: NDArray[np.bool_] = np.asarray(
        np.lib.stride_tricks.sliding_window_view(padded, length, axis=0).any(axis=-1)
    )
    return grown[: mask.shape[0]] & mask


def _lower_edge(solid: NDArray[np.bool_]) -> FloatArray:
    """Per column, the row just below the lowest solid pixel (NaN for an empty column)."""
    h = solid.shape[0]
    any_solid = solid.any(axis=0)
    last = h - np.argmax(solid[::-1], axis=0)  # one past the lowest solid row
    edge = np.where(any_solid, last, np.nan).astype(np.float64)
    if len(edge) < 3:
        return edge
    # A ragged edge has single-column spikes; a tyre is many columns wide.
    padded = np.concatenate(([edge[0]], edge, [edge[-1]]))
    neighbours = np.stack([padded[:-2], padded[1:-1], padded[2:]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        smoothed = np.nanmedian(neighbours, axis=0)
    return np.where(any_solid, smoothed, np.nan)


def _supports(edge: FloatArray, solid: NDArray[np.bool_]) -> list[tuple[float, float]]:
    """The points the silhouettes rest on (analysis pixels), left to right.

    Silhouettes apart from each other (a second car entering the frame) stand on their own
    supports: one hull across both would pass under the nearer car's higher tyres.
    """
    xs = np.flatnonzero(~np.isnan(edge))
    runs = np.split(xs, np.flatnonzero(np.diff(xs) > 1) + 1)
    supports: list[tuple[float, float]] = []
    for run in runs:
        if len(run) >= 4 or len(runs) == 1:
            supports.extend(_run_supports(edge, solid, run))
    return sorted(supports)


def _run_supports(
    edge: FloatArray, solid: NDArray[np.bool_], xs: NDArray[np.intp]
) -> list[tuple[float, float]]:
    """The supports of one silhouette spanning the columns `xs`."""
    hull = _lower_hull([(float(x), float(edge[x])) for x in xs])
    if len(hull) == 1:
        return hull
    span = float(xs[-1] - xs[0] + 1)
    groups = _patches(hull, edge, span)
    tyres = [g for g in groups if _is_tyre(edge, g, span)]
    if len(tyres) >= 2:
        return _with_stranded([_lowest(g) for g in tyres], [_lowest(g) for g in groups], span)
    # Fewer than two tyre shapes (a box, a cut-out blob): the hull edge under the centre of
    # mass carries it, with the one tyre found if any.
    columns = np.zeros(solid.shape[1])
    columns[xs] = solid[:, xs].sum(axis=0)
    centre = float((np.arange(len(columns)) * columns).sum() / max(1, columns.sum()))
    k = next(
        (i for i in range(len(hull) - 1) if hull[i][0] <= centre <= hull[i + 1][0]),
        0 if centre < hull[0][0] else len(hull) - 2,
    )
    supports = {hull[k], hull[k + 1], *(_lowest(g) for g in tyres)}
    return sorted(supports)


def _with_stranded(
    supports: list[tuple[float, float]], patches: list[tuple[float, float]], span: float
) -> list[tuple[float, float]]:
    """The supports, and every patch between two of them that the ground line through them
    would leave hanging below it: the car cannot reach through the ground there, so it stands
    on it (a near tyre whose ragged rim hid its shape, between the rear tyre and the nose)."""
    rise = max(1.0, TYRE_RISE * span)
    reach = TYRE_REACH * span  # nearer a support than this, it is that support's own tyre
    out = list(supports)
    for x, y in patches:
        if not supports[0][0] < x < supports[-1][0] or (x, y) in out:
            continue
        right = next(i for i, s in enumerate(supports) if s[0] > x)
        (x0, y0), (x1, y1) = supports[right - 1], supports[right]
        if min(x - x0, x1 - x) <= reach:
            continue
        if y > y0 + (y1 - y0) * (x - x0) / (x1 - x0) + rise:
            out.append((x, y))
    return sorted(out)


def _patches(
    hull: list[tuple[float, float]], edge: FloatArray, span: float
) -> list[list[tuple[float, float]]]:
    """Hull vertices grouped into contact patches: a tyre's rounded bottom gives several close
    vertices, a flat tread two at the ends of a run that lies on the hull."""
    gap = max(2.0, PATCH_GAP * span)
    tolerance = max(1.0, HULL_TOLERANCE * span)
    groups = [[hull[0]]]
    for vertex in hull[1:]:
        last = groups[-1][-1]
        between = edge[int(last[0]) : int(vertex[0]) + 1]
        flat = abs(vertex[1] - last[1]) <= tolerance and bool(
            np.all(between >= max(last[1], vertex[1]) - tolerance)
        )
        if vertex[0] - last[0] <= gap or flat:
            groups[-1].append(vertex)
        else:
            groups.append([vertex])
    return groups


def _lowest(group: list[tuple[float, float]]) -> tuple[float, float]:
    """A patch's support point: its middle column, at its lowest row."""
    return (sum(v[0] for v in group) / len(group), max(v[1] for v in group))


def _lower_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The chain of the convex hull that lies lowest in the picture (largest y), left to right."""
    chain: list[tuple[float, float]] = []
    for p in points:
        # Image rows grow downwards: keep turning so that every point stays above the chain.
        while len(chain) >= 2 and _cross(chain[-2], chain[-1], p) >= 0:
            chain.pop()
        chain.append(p)
    return chain


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _is_tyre(edge: FloatArray, patch: list[tuple[float, float]], span: float) -> bool:
    """Whether the lower edge rises on both sides of a patch within a tyre's reach.

    A tyre's edge climbs its flanks; a bumper corner has the car's end on one side and a flat
    run (the bumper's bottom) on the other, so it is not taken for a support.
    """
    y0 = max(v[1] for v in patch)
    reach = max(2, round(TYRE_REACH * span))
    rise = max(1.0, TYRE_RISE * span)
    tolerance = max(1.0, HULL_TOLERANCE * span)
    for step, start in ((-1, int(patch[0][0])), (1, int(patch[-1][0]))):
        for d in range(1, reach + 1):
            x = start + step * d
            if x < 0 or x >= len(edge) or np.isnan(edge[x]):
                return False  # the silhouette ends: a corner, not a tyre
            if edge[x] > y0 + tolerance:
                return False  # it goes lower first: this patch is on the way to a support
            if edge[x] < y0 - rise:
                break
        else:
            return False  # flat for a whole tyre's reach: a sill or a bumper, not a tyre
    return True


def clear_below_ground(canvas: Image.Image, ground: Ground, margin: float = 2.0) -> None:
    """Drop, in place, what a cutout kept of the old floor: semi-transparent pixels below the
    vehicle's lower edge (or the ground line beyond it): a leftover floor shadow, mist, specks.
    The contact shadow replaces them; the solid vehicle and its soft edge are kept."""
    floor = np.where(np.isnan(ground.edge), ground.line, np.minimum(ground.edge, ground.line))
    top = max(0, math.floor(float(floor.min()) + margin))
    if top >= canvas.height:
        return
    box = (ground.left, top, ground.right, canvas.height)
    region = canvas.crop(box)  # only below the ground: never the whole canvas's alpha
    alpha = np.asarray(region.getchannel("A")).copy()
    rows = np.arange(top, canvas.height, dtype=np.float64)[:, None]
    stray = (rows > (floor[None, :] + margin)) & (alpha < SOLID_ALPHA) & (alpha > 0)
    if not stray.any():
        return
    alpha[stray] = 0
    region.putalpha(Image.fromarray(alpha, "L"))
    canvas.paste(region, box[:2])
