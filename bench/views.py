"""Synthetic cars seen from any side: side, front, rear and three-quarter views, with ground truth.

`render_view` builds a low-poly 3D car from the side outlines of `bench.synthetic` (the outline
lofted across the car's width, a narrower greenhouse above the belt line), projects it with a
small perspective camera and paints it back to front (painter's algorithm, back faces culled),
supersampled for anti-aliased edges. It returns the RGBA cutout a background-removal API would
give, the studio photograph of the same car, the exact image position of every tyre's ground
contact point (projected with the same camera) and whether that point shows in the cutout.
`flaws` imitates what real segmentation leaves: ragged lower edges, leftover floor shadow,
speckles, part of a second car. `render_studio` paints a dealer's empty studio and `render_logo`
a dealer's logo.

Only numpy and Pillow, no I/O; the same arguments give the same pixels. The car is painted at most
`MAX_WORK_SIDE` pixels large and scaled up. Cost: a 2000 x 1333 `render_view` (cutout and photo)
takes about 0.33 s on the development machine (2 shared cores, under load), all flaws 0.5 s:

    python -m timeit -s "from bench.views import render_view" "render_view(2000, 1333)"
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from bench.synthetic import _SHAPES, KINDS, _chaikin, _grain, _Shape

RGB = tuple[int, int, int]
RGBA = tuple[int, int, int, int]
Array = NDArray[np.float64]

VIEWS = ("side", "front", "rear", "front34", "rear34", "above34")
FLAWS = frozenset({"ragged", "ground_shadow", "speckles", "second_car"})
MAX_WORK_SIDE = 2048
_WINDOW_ALPHA = 204  # glass stays slightly see-through in a cutout, as in bench.synthetic
_NEAR_GROUND = 0.84  # share of the height where the lowest near tyre touches the ground
_TOP_MARGIN = 0.04  # the roof never comes closer to the top edge than this share of the height

# Overall width in car lengths (the outlines of bench.synthetic are in car lengths).
_WIDTHS = {"sedan": 0.385, "suv": 0.41, "hatchback": 0.42, "pickup": 0.37}
_TYRE_WIDTH = 0.046
_TYRE_INSET = 0.014  # the tyre's outer face sits this far inside the body side
_LIGHT = np.array([0.30, 0.85, 0.43]) / np.linalg.norm([0.30, 0.85, 0.43])


@dataclass(frozen=True)
class _Pose:
    """Where the camera stands, in car lengths around the car's centre on the ground."""

    azimuth: float  # degrees from the car's nose towards its left (+z) side
    distance: float  # horizontal distance from the centre
    height: float  # camera height above the ground
    target: float  # height of the point it looks at, above the centre


_POSES = {
    "side": _Pose(90.0, 2.2, 0.20, 0.12),
    "front": _Pose(0.0, 2.2, 0.24, 0.12),
    "rear": _Pose(180.0, 2.2, 0.24, 0.12),
    "front34": _Pose(36.0, 1.45, 0.36, 0.10),
    "rear34": _Pose(144.0, 1.45, 0.36, 0.10),
    "above34": _Pose(40.0, 1.30, 0.80, 0.05),
}


@dataclass(frozen=True)
class Tyre:
    """A tyre's ground contact point in image pixels.

    The point is the tyre's lowest image point: the end of its contact line across the tread
    nearer the camera, on the ground plane. `near` tells the tyres on the side the camera faces
    (the left flank in the side and three-quarter views, the front axle in `front`, the rear axle
    in `rear`); `visible` whether the point shows in the cutout (not hidden behind the body or
    another tyre).
    """

    x: float
    y: float
    near: bool
    visible: bool


@dataclass(frozen=True)
class ViewRender:
    """A rendered view: the provider's cutout, the studio photo, tyre ground truth, alpha box.

    `tyres` come in the order rear-left, front-left, rear-right, front-right (left: the flank the
    side and three-quarter views face); `box` bounds alpha > 10 in the cutout, flaws included.
    """

    cutout: Image.Image
    photo: Image.Image
    tyres: tuple[Tyre, ...]
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: `focal` in image pixels, `centre` the principal point."""

    position: tuple[float, float, float]
    target: tuple[float, float, float]
    focal: float
    centre: tuple[float, float]

    def basis(self) -> tuple[Array, Array, Array]:
        eye, at = np.asarray(self.position), np.asarray(self.target)
        forward = (at - eye) / np.linalg.norm(at - eye)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        return forward, right, np.cross(right, forward)

    def project(self, points: Array) -> tuple[Array, Array]:
        """World points (n, 3) to image pixels (n, 2) and their depths along the view (n,)."""
        forward, right, up = self.basis()
        d = np.asarray(points, dtype=np.float64).reshape(-1, 3) - np.asarray(self.position)
        depth = d @ forward
        xy = np.stack([d @ right, -(d @ up)], axis=1) / depth[:, None]
        return xy * self.focal + np.asarray(self.centre), depth


@dataclass
class _Face:
    """A flat polygon to paint: world vertices, fill colour and what it belongs to."""

    points: Array  # (n, 3)
    fill: RGBA
    layer: int  # 0 far wheels, 1 body, 2 decals on the body, 3 near wheels
    owner: int  # -1 for the body, else the tyre's index
    normal: Array | None = None  # None: always drawn (decals are culled by their caller)
    mask: int = 0  # 1: also drawn into the body mask, 2: into the arch mask


# ---------------------------------------------------------------------------------------------
# The car as faces


@dataclass(frozen=True)
class _Body:
    """The lofted body: cross-section rings at positions `u` along the car."""

    u: Array  # (m,)
    bottom: Array
    top: Array
    rings: Array  # (m, k, 3) world points of each section, left flank to right flank
    levels: Array  # (m, k) height of each ring point
    half: Array  # (m,) full half-width at each section


def _chains(shape: _Shape) -> tuple[Array, Array]:
    """The outline's upper and lower chains, each as (n, 2) points sorted by u."""
    pts = np.asarray(_chaikin(shape.outline, 2))
    i0, i1 = int(np.argmin(pts[:, 0])), int(np.argmax(pts[:, 0]))
    n = len(pts)
    a = [pts[(i0 + k) % n] for k in range((i1 - i0) % n + 1)]
    b = [pts[(i1 + k) % n] for k in range((i0 - i1) % n + 1)]
    first, second = np.asarray(a), np.asarray(b)[::-1]
    upper, lower = (first, second) if first[:, 1].mean() > second[:, 1].mean() else (second, first)
    for chain in (upper, lower):
        chain[:, 0] = np.maximum.accumulate(chain[:, 0])
    return upper, lower


def _section(bottom: float, top: float, belt: float) -> tuple[Array, Array]:
    """One flank of a cross-section: width shares and heights, from the sill to the roof edge."""
    low = min(top, belt)
    glass = max(top - belt, 0.0)
    g = min(glass / 0.03, 1.0)  # how much greenhouse this section has
    frac = [0.90, 0.985, 1.0, 0.975, 0.955 - 0.07 * g, 0.93 - 0.20 * g, 0.86 - 0.27 * g]
    level = [
        bottom,
        bottom + 0.30 * (low - bottom),
        bottom + 0.68 * (low - bottom),
        low,
        low + 0.12 * glass + 0.004 * (1 - g),
        low + 0.80 * glass + 0.008 * (1 - g),
        top,
    ]
    level[4] = min(level[4], top)
    level[5] = min(max(level[5], level[4]), top)
    return np.asarray(frac), np.asarray(level)


def _body(shape: _Shape, width: float) -> _Body:
    upper, lower = _chains(shape)
    u0, u1 = float(upper[0, 0]), float(upper[-1, 0])
    even = u0 + (u1 - u0) * (0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, 72)))
    u = np.unique(np.concatenate([even, upper[:, 0], lower[:, 0]]))
    u = u[(u >= u0) & (u <= u1)]
    top = np.interp(u, upper[:, 0], upper[:, 1])
    bottom = np.interp(u, lower[:, 0], lower[:, 1])
    # Rounded corners in plan: the half-width falls off over the last few per cent at each end.
    end = np.clip((np.abs(2 * (u - 0.5) / (u1 - u0)) - 0.86) / 0.14, 0.0, 1.0)
    half = width / 2 * (1.0 - 0.16 * end**2)
    rings, levels = [], []
    for i in range(len(u)):
        frac, level = _section(float(bottom[i]), float(top[i]), shape.belt)
        z = np.concatenate([frac, frac[::-1] * -1]) * half[i]
        v = np.concatenate([level, level[::-1]])
        x = np.full_like(v, u[i] - 0.5)
        rings.append(np.stack([x, v, z], axis=1))
        levels.append(v)
    return _Body(u, bottom, top, np.asarray(rings), np.asarray(levels), half)


def _surface_z(body: _Body, shape: _Shape, u: float, v: float, side: float) -> float:
    """The flank's z at (u, v), a hair outside the surface so decals sit on top."""
    i = int(np.clip(np.searchsorted(body.u, u), 1, len(body.u) - 1))
    t = float((u - body.u[i - 1]) / max(float(body.u[i] - body.u[i - 1]), 1e-9))
    zs = []
    for j in (i - 1, i):
        frac, level = _section(float(body.bottom[j]), float(body.top[j]), shape.belt)
        zs.append(float(np.interp(v, level, frac)) * float(body.half[j]))
    return side * ((1 - t) * zs[0] + t * zs[1] + 0.003)


def _nose(body: _Body, v: float, front: bool) -> float:
    """The foremost (or rearmost) u of the body at height v."""
    inside = (body.bottom <= v) & (body.top >= v)
    if not inside.any():
        return float(body.u[-1] if front else body.u[0])
    return float(body.u[inside].max() if front else body.u[inside].min())


def _shade(colour: RGB, normal: Array, v: float, shape: _Shape, gloss: float = 1.0) -> RGBA:
    """Paint lit from above the front-left, darker low on the flanks, bright where it faces up."""
    n = normal / max(float(np.linalg.norm(normal)), 1e-9)
    lambert = max(0.0, float(n @ _LIGHT))
    low = 0.62 + 0.38 * min(1.0, max(0.0, (v - shape.clearance) / (shape.belt - shape.clearance)))
    base = np.asarray(colour, dtype=np.float64) / 255 * (0.50 + 0.50 * lambert) * low
    sky = gloss * 0.30 * max(0.0, float(n[1])) ** 2
    shine = gloss * 0.55 * max(0.0, float(n @ _LIGHT)) ** 24
    rgb = base + (1 - base) * min(0.9, sky + shine)
    r, g, b = (round(255 * min(1.0, max(0.0, float(c)))) for c in rgb)
    return (r, g, b, 255)


def _quad_normal(points: Array) -> Array:
    (ax, ay, az), (bx, by, bz) = (points[2] - points[0]).tolist(), (points[3] - points[1]).tolist()
    return np.array([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx])


def _body_faces(body: _Body, shape: _Shape, colour: RGB) -> list[_Face]:
    faces: list[_Face] = []
    rings = body.rings
    m, k = rings.shape[0], rings.shape[1]
    half_k = k // 2
    glass_rgb = (34, 40, 48)
    for i in range(m - 1):
        du = body.u[i + 1] - body.u[i]
        slope = abs(body.top[i + 1] - body.top[i]) / max(du, 1e-9)
        for j in range(k):
            a, b = rings[i, j], rings[i, (j + 1) % k]
            c, d = rings[i + 1, (j + 1) % k], rings[i + 1, j]
            quad = np.stack([a, d, c, b])
            normal = _quad_normal(quad)
            if float(np.linalg.norm(normal)) < 1e-12:
                continue
            v = float(quad[:, 1].mean())
            top_strip = j == half_k - 1
            bottom_strip = j == k - 1
            greenhouse = not top_strip and not bottom_strip and v > shape.belt + 0.006
            if bottom_strip:
                v = shape.clearance + 0.3 * (shape.belt - shape.clearance)
            if bottom_strip and abs(float(normal[1])) > 0.6 * float(np.linalg.norm(normal)):
                fill: RGBA = (18, 18, 20, 255)
            elif top_strip and v > shape.belt + 0.008 and slope > 0.25:
                fill = (*_glass(normal, glass_rgb), _WINDOW_ALPHA)
            elif greenhouse:
                fill = (22, 23, 26, 255)  # black pillars and window frames
            else:
                fill = _shade(colour, normal, v, shape)
                # The shoulder line catches the light along the whole car.
                if j in (3, k - 5) and shape.clearance < v <= shape.belt + 0.004:
                    fill = _lighten(fill, 0.35)
            faces.append(_Face(quad, fill, 1, -1, normal, 1))
    # End caps close the first and last sections.
    for i, sign in ((0, -1.0), (m - 1, 1.0)):
        ring = rings[i]
        cap = _Face(ring, _shade(colour, np.array([sign, 0.2, 0.0]), 0.15, shape), 1, -1, None, 1)
        cap.normal = np.array([sign, 0.0, 0.0])
        faces.append(cap)
    return faces


def _glass(normal: Array, rgb: RGB) -> RGB:
    n = normal / max(float(np.linalg.norm(normal)), 1e-9)
    lift = 0.35 * max(0.0, float(n[1]))
    return (
        int(rgb[0] + (150 - rgb[0]) * lift),
        int(rgb[1] + (160 - rgb[1]) * lift),
        int(rgb[2] + (172 - rgb[2]) * lift),
    )


def _lighten(fill: RGBA, amount: float) -> RGBA:
    r, g, b, a = fill
    return (
        int(r + (255 - r) * amount),
        int(g + (255 - g) * amount),
        int(b + (255 - b) * amount),
        a,
    )


def _decals(body: _Body, shape: _Shape, eye: Array, colour: RGB) -> list[_Face]:
    """Windows, lights, grille, plate and wheel arches on the faces the camera sees."""
    faces: list[_Face] = []

    def flank(points: list[tuple[float, float]], side: float, fill: RGBA, mask: int = 0) -> None:
        pts = np.array(
            [(u - 0.5, v, _surface_z(body, shape, u, v, side)) for u, v in points], dtype=float
        )
        centre = pts.mean(axis=0)
        if float((eye - centre) @ np.array([0.0, 0.12, side])) > 0:
            faces.append(_Face(pts, fill, 2, -1, None, mask))

    def end(points: list[tuple[float, float]], front: bool, fill: RGBA) -> None:
        """Points as (share of the half-width, height) on the nose or the tail."""
        sign = 1.0 if front else -1.0
        pts = []
        for s, v in points:
            u = _nose(body, v, front)
            i = int(np.clip(np.searchsorted(body.u, u), 0, len(body.u) - 1))
            pts.append((u - 0.5 + sign * 0.002, v, s * float(body.half[i])))
        arr = np.asarray(pts, dtype=float)
        centre = arr.mean(axis=0)
        if float((eye - centre) @ np.array([sign, 0.0, 0.0])) > 0:
            faces.append(_Face(arr, fill, 2, -1, None))

    seam: RGBA = (colour[0] // 3, colour[1] // 3, colour[2] // 3, 255)
    for side in (1.0, -1.0):
        window = _chaikin(shape.windows, 2)
        flank(window, side, (30, 36, 44, _WINDOW_ALPHA))
        # A reflection band across the glass, lighter towards the roof.
        for pu in shape.pillars:
            flank(
                [
                    (pu - 0.011, shape.belt - 0.004),
                    (pu + 0.011, shape.belt - 0.004),
                    (pu + 0.002, shape.height - 0.004),
                    (pu - 0.020, shape.height - 0.004),
                ],
                side,
                (20, 20, 23, 255),
            )
        mx, my = shape.mirror[0]
        mirror = [(mx + 0.6 * (x - mx), my + 0.6 * (y - my)) for x, y in shape.mirror]
        flank(list(_chaikin(tuple(mirror), 2)), side, (24, 25, 28, 255))
        # Seen from the side only: a nose or tail in view carries its own lamps.
        if float(eye[0]) < 0.6:
            flank(list(_chaikin(shape.headlight, 2)), side, (226, 230, 234, 255))
        if float(eye[0]) > -0.6:
            flank(list(_chaikin(shape.taillight, 2)), side, (176, 20, 24, 255))
        for wu in shape.wheels:
            arc = []
            for q in range(25):
                a = math.pi * q / 24
                u = wu + shape.arch_radius * math.cos(a)
                v = shape.wheel_radius + shape.arch_radius * math.sin(a)
                arc.append((u, max(v, shape.clearance)))
            arc.append((wu - shape.arch_radius, shape.clearance - 0.002))
            arc.append((wu + shape.arch_radius, shape.clearance - 0.002))
            flank(arc, side, (12, 12, 14, 255), mask=2)
        # Door seams as thin dark slivers.
        for du in shape.doors:
            flank(
                [
                    (du, shape.belt - 0.004),
                    (du + 0.0025, shape.belt - 0.004),
                    (du - 0.0095, shape.clearance + 0.012),
                    (du - 0.012, shape.clearance + 0.012),
                ],
                side,
                seam,
            )
    head = [p[1] for p in shape.headlight]
    h0, h1 = min(head), max(head)
    tail = [p[1] for p in shape.taillight]
    t0, t1 = min(tail), max(tail)
    cl = shape.clearance
    for s in (1.0, -1.0):
        lamp = [(s * 0.48, h0), (s * 0.97, h0 + 0.3 * (h1 - h0)), (s * 0.97, h1), (s * 0.48, h1)]
        end(list(_chaikin(tuple(lamp), 2)), True, (232, 234, 238, 255))
        inner = [(s * 0.56, h0 + 0.25 * (h1 - h0)), (s * 0.70, h0 + 0.25 * (h1 - h0))]
        inner += [(s * 0.70, h1 - 0.2 * (h1 - h0)), (s * 0.56, h1 - 0.2 * (h1 - h0))]
        end(inner, True, (255, 250, 228, 255))
        rear = [(s * 0.56, t0), (s * 0.98, t0), (s * 0.98, t1), (s * 0.56, t1)]
        end(list(_chaikin(tuple(rear), 2)), False, (170, 18, 22, 255))
        glow = [(s * 0.64, t0 + 0.3 * (t1 - t0)), (s * 0.88, t0 + 0.3 * (t1 - t0))]
        glow += [(s * 0.88, t1 - 0.2 * (t1 - t0)), (s * 0.64, t1 - 0.2 * (t1 - t0))]
        end(glow, False, (230, 62, 58, 255))
    gy = max(cl + 0.03, h0 - 0.035)
    grille = [(-0.30, gy), (0.30, gy), (0.34, h0 + 0.006), (-0.34, h0 + 0.006)]
    end(list(_chaikin(tuple(grille), 2)), True, (24, 25, 28, 255))
    intake = [(-0.50, cl + 0.010), (0.50, cl + 0.010), (0.54, cl + 0.026), (-0.54, cl + 0.026)]
    end(list(_chaikin(tuple(intake), 2)), True, (30, 31, 34, 255))
    for front in (True, False):
        pv = cl + 0.035 if front else min(t0 - 0.012, cl + 0.07)
        plate = [(-0.22, pv), (0.22, pv), (0.22, pv + 0.022), (-0.22, pv + 0.022)]
        end(plate, front, (236, 236, 230, 255))
    return faces


def _wheel_faces(
    shape: _Shape, width: float, index: int, x: float, z_out: float, far: bool, spin: float
) -> list[_Face]:
    """A tyre (tread band, sidewall) with its rim on the outer face, as world polygons."""
    r = shape.wheel_radius
    side = 1.0 if z_out > 0 else -1.0
    z_in = z_out - side * _TYRE_WIDTH
    layer = 0 if far else 3
    n = 36
    ang = np.linspace(0.0, 2 * math.pi, n, endpoint=False)

    def ring(z: float, radius: float, turn: float = 0.0) -> Array:
        a = ang + turn
        return np.stack([x + radius * np.cos(a), r + radius * np.sin(a), np.full(n, z)], axis=1)

    outer, inner = ring(z_out, r), ring(z_in, r)
    faces: list[_Face] = []
    for i in range(n):
        j = (i + 1) % n
        quad = np.stack([outer[i], outer[j], inner[j], inner[i]])
        normal = np.array([math.cos(ang[i] + math.pi / n), math.sin(ang[i] + math.pi / n), 0.0])
        tone = 30 if i % 2 else 22
        lit = int(tone + 22 * max(0.0, float(normal @ _LIGHT)))
        faces.append(_Face(quad, (lit, lit, lit + 2, 255), layer, index, normal))
    for z, facing in ((z_out, side), (z_in, -side)):
        normal = np.array([0.0, 0.0, facing])
        faces.append(_Face(ring(z, r), (36, 36, 39, 255), layer, index, normal))
        outward = facing == side
        if not outward:
            faces.append(
                _Face(ring(z + facing * 0.001, 0.62 * r), (16, 16, 18, 255), layer, index, normal)
            )
            continue
        zf = z + facing * 0.001
        faces.append(_Face(ring(zf, 0.70 * r), (24, 24, 26, 255), layer, index, normal))
        faces.append(_Face(ring(zf, 0.66 * r), (104, 107, 112, 255), layer, index, normal))
        faces.append(_Face(ring(zf, 0.62 * r), (188, 191, 197, 255), layer, index, normal))
        faces.append(_Face(ring(zf, 0.52 * r, 0.3), (204, 207, 213, 255), layer, index, normal))
        spokes = shape.spokes
        for s in range(spokes):
            a0 = spin + 2 * math.pi * s / spokes + 0.14 * 2 * math.pi / spokes
            a1 = a0 + 0.62 * 2 * math.pi / spokes
            arc = [a0 + (a1 - a0) * q / 8 for q in range(9)]
            hole = [(x + 0.56 * r * math.cos(a), r + 0.56 * r * math.sin(a), zf) for a in arc]
            hole += [
                (x + 0.25 * r * math.cos(a), r + 0.25 * r * math.sin(a), zf) for a in arc[::-1]
            ]
            faces.append(_Face(np.asarray(hole), (30, 30, 34, 255), layer, index, normal))
        faces.append(_Face(ring(zf, 0.19 * r), (150, 153, 158, 255), layer, index, normal))
        faces.append(_Face(ring(zf, 0.08 * r), (70, 72, 76, 255), layer, index, normal))
    return faces


@dataclass(frozen=True)
class _Car:
    faces: list[_Face]
    wheels: tuple[tuple[float, float, float], ...]  # (x, z_out, z_in) of each tyre
    points: Array  # every vertex, for framing


def _car(kind: str, colour: RGB, eye: Array, seed: int, offset: Array) -> _Car:
    shape, width = _SHAPES[kind], _WIDTHS[kind]
    body = _body(shape, width)
    eye_local = eye - offset
    faces = _body_faces(body, shape, colour) + _decals(body, shape, eye_local, colour)
    rng = np.random.default_rng(seed + 11)
    wheels = []
    z_out = width / 2 - _TYRE_INSET
    index = 0
    for side in (1.0, -1.0):
        for wu in shape.wheels:
            x = wu - 0.5
            far = float((eye_local - np.array([x, 0.0, 0.0])) @ np.array([0.0, 0.0, side])) < 0
            spin = float(rng.uniform(0.0, 2 * math.pi))
            faces += _wheel_faces(shape, width, index, x, side * z_out, far, spin)
            wheels.append((x, side * z_out, side * (z_out - _TYRE_WIDTH)))
            index += 1
    for face in faces:
        face.points = face.points + offset
    points = np.concatenate([f.points for f in faces if f.layer in (1, 3)])
    return _Car(faces, tuple(wheels), points)


# ---------------------------------------------------------------------------------------------
# Camera and painting


def _pose_eye(view: str) -> tuple[Array, Array]:
    pose = _POSES[view]
    a = math.radians(pose.azimuth)
    eye = np.array([pose.distance * math.cos(a), pose.height, pose.distance * math.sin(a)])
    return eye, np.array([0.0, pose.target, 0.0])


def _near(view: str, x: float, z: float) -> bool:
    if view == "front":
        return x > 0
    if view == "rear":
        return x < 0
    return z > 0


def _contact(camera: Camera, wheel: tuple[float, float, float]) -> tuple[float, float]:
    x, z_out, z_in = wheel
    xy, _ = camera.project(np.array([[x, 0.0, z_out], [x, 0.0, z_in]]))
    lowest = int(np.argmax(xy[:, 1]))
    return float(xy[lowest, 0]), float(xy[lowest, 1])


def _frame(
    car: _Car, view: str, eye: Array, target: Array, width: int, height: int, scale: float
) -> Camera:
    """Fit focal length and principal point: `scale` of the width, centred, tyres at 84 %."""
    position = (float(eye[0]), float(eye[1]), float(eye[2]))
    probe = Camera(
        position, (float(target[0]), float(target[1]), float(target[2])), 1.0, (0.0, 0.0)
    )
    xy, _ = probe.project(car.points)
    span = float(xy[:, 0].max() - xy[:, 0].min())
    near = [w for w in car.wheels if _near(view, w[0], w[1])]
    ground = max(_contact(probe, w)[1] for w in near)
    top = float(xy[:, 1].min())
    focal = scale * width / span
    # A tall car seen head-on may not fit: then the height decides, not the width.
    focal = min(focal, (_NEAR_GROUND - _TOP_MARGIN) * height / max(ground - top, 1e-9))
    cx = width / 2 - focal * float(xy[:, 0].max() + xy[:, 0].min()) / 2
    cy = _NEAR_GROUND * height - focal * ground
    return Camera(probe.position, probe.target, focal, (cx, cy))


def _inside(px: float, py: float, poly: Array) -> bool:
    x, y = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x, -1), np.roll(y, -1)
    crosses = (y > py) != (y2 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x + (py - y) * (x2 - x) / (y2 - y)
    return bool(np.count_nonzero(crosses & (px < at)) % 2)


@dataclass
class _Painted:
    """The draw list in painting order, in output pixels."""

    polys: list[tuple[Array, _Face]]


def _paint_list(car: _Car, camera: Camera) -> _Painted:
    eye = np.asarray(camera.position)
    counts = [len(f.points) for f in car.faces]
    xy_all, depth_all = camera.project(np.concatenate([f.points for f in car.faces]))
    splits = np.cumsum(counts)[:-1]
    xys, depths = np.split(xy_all, splits), np.split(depth_all, splits)
    hubs = np.array([[x, 0.1, z_out] for x, z_out, _ in car.wheels])
    hub_depth = camera.project(hubs)[1]
    items: list[tuple[int, float, int, Array, _Face]] = []
    for n, face in enumerate(car.faces):
        if face.normal is not None:
            centre = face.points.mean(axis=0)
            if float((eye - centre) @ face.normal) <= 0:
                continue
        xy, depth = xys[n], depths[n]
        if (depth <= 0).any():
            continue
        # Body faces far to near; a wheel's parts together, by its hub; decals in list order.
        if face.layer == 1:
            key = -float(depth.mean())
        elif face.owner >= 0:
            key = -float(hub_depth[face.owner])
        else:
            key = 0.0
        items.append((face.layer, key, n, xy, face))
    items.sort(key=lambda t: (t[0], t[1], t[2]))
    return _Painted([(xy, face) for _, _, _, xy, face in items])


def _draw(
    painted: _Painted, origin: tuple[float, float], size: tuple[int, int], k: float
) -> Image.Image:
    """Paint the list on an RGBA canvas `size` (supersampled by k) whose corner is `origin`."""
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    wheels = Image.new("RGBA", size, (0, 0, 0, 0))
    body_mask = Image.new("L", size, 0)
    arch_mask = Image.new("L", size, 0)
    draw, wdraw = ImageDraw.Draw(canvas), ImageDraw.Draw(wheels)
    bdraw, adraw = ImageDraw.Draw(body_mask), ImageDraw.Draw(arch_mask)
    ox, oy = origin
    for xy, face in painted.polys:
        pts = [((x - ox) * k, (y - oy) * k) for x, y in xy]
        if face.layer == 3:
            wdraw.polygon(pts, fill=face.fill)
            continue
        draw.polygon(pts, fill=face.fill)
        if face.mask == 1:
            bdraw.polygon(pts, fill=255)
        elif face.mask == 2:
            adraw.polygon(pts, fill=255)
    # Near wheels show through their arches and below the body, never over the fenders.
    clip = ImageChops.lighter(arch_mask, ImageChops.invert(body_mask))
    wheels.putalpha(ImageChops.multiply(wheels.getchannel("A"), clip))
    return Image.alpha_composite(canvas, wheels)


def _covered_by(painted: _Painted, px: float, py: float) -> int:
    """Who owns the top of the painting at a point: a tyre's index, or -1 for the body."""
    owner = -2
    in_body = any(
        f.mask == 1 and _inside(px, py, xy)
        for xy, f in painted.polys
        if xy[:, 0].min() <= px <= xy[:, 0].max() and xy[:, 1].min() <= py <= xy[:, 1].max()
    )
    in_arch = any(f.mask == 2 and _inside(px, py, xy) for xy, f in painted.polys)
    for xy, face in painted.polys:
        if not (xy[:, 0].min() <= px <= xy[:, 0].max() and xy[:, 1].min() <= py <= xy[:, 1].max()):
            continue
        if face.layer == 3 and in_body and not in_arch:
            continue
        if face.fill[3] > 0 and _inside(px, py, xy):
            owner = face.owner
    return owner


def _bounds(painted: _Painted, width: int, height: int, pad: float) -> tuple[int, int, int, int]:
    allxy = np.concatenate([xy for xy, _ in painted.polys])
    x0 = max(0, math.floor(float(allxy[:, 0].min()) - pad))
    y0 = max(0, math.floor(float(allxy[:, 1].min()) - pad))
    x1 = min(width, math.ceil(float(allxy[:, 0].max()) + pad))
    y1 = min(height, math.ceil(float(allxy[:, 1].max()) + pad))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def _rasterise(painted: _Painted, width: int, height: int) -> Image.Image:
    """The painted list as a full-size RGBA layer, supersampled and reduced."""
    out = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    x0, y0, x1, y1 = _bounds(painted, width, height, 4)
    factor = min(1.0, MAX_WORK_SIDE / max(width, height))
    rw, rh = max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))
    ss = 3 if max(rw, rh) <= 900 else 2
    big = _draw(painted, (x0, y0), (rw * ss, rh * ss), factor * ss)
    resample = Image.Resampling.BOX if factor == 1 else Image.Resampling.BICUBIC
    region = big.resize((x1 - x0, y1 - y0), resample)
    out.paste(region, (x0, y0))
    return out


# ---------------------------------------------------------------------------------------------
# Flaws of real segmentations


def _ragged(alpha: Array, tyres: list[tuple[float, float]], height: int, seed: int) -> Array:
    """Feather the outline and chew the lower edge: each column loses 0 to 5 soft pixels."""
    rng = np.random.default_rng(seed + 31)
    image = Image.fromarray(np.round(alpha).astype(np.uint8), "L")
    soft = np.asarray(image.filter(ImageFilter.GaussianBlur(1.0)), dtype=np.float64)
    out = 0.4 * alpha + 0.6 * soft
    top = max(0, int(min(y for _, y in tyres) - 0.04 * height))
    bottom = min(alpha.shape[0], int(max(y for _, y in tyres) + 4))
    if bottom <= top:
        return out
    band = out[top:bottom]
    w = alpha.shape[1]
    solid = band > 128
    rows = np.arange(bottom - top, dtype=np.float64)[:, None]
    lowest = np.where(solid.any(axis=0), (solid * rows).max(axis=0), -1.0)
    # A jagged bite depth, changing every few pixels along the edge.
    knots = rng.uniform(0.0, 5.0, w // 4 + 2)
    bite = np.interp(np.arange(w) / 4.0, np.arange(len(knots)), knots)
    bite += rng.uniform(-0.8, 0.8, w)
    depth = lowest[None, :] - rows  # pixels above the column's lowest solid pixel
    keep = np.clip((depth - bite[None, :]) / 2.5 + 0.5, 0.0, 1.0)
    band *= np.where(lowest[None, :] >= 0, keep, 1.0)
    return out


def _ground_shadow(
    camera: Camera, car: _Car, size: tuple[int, int], strength: int, blur: float, step: int = 1
) -> Image.Image:
    """A dark patch on the floor under the car and around its tyres, as an L mask.

    A wide blur is computed `step` times smaller and scaled up: it is smooth anyway."""
    full = size
    size = (max(1, size[0] // step), max(1, size[1] // step))
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    xs = [w[0] for w in car.wheels]
    zs = [w[1] for w in car.wheels]
    x0, x1 = min(xs) - 0.10, max(xs) + 0.10
    z0, z1 = min(zs) - 0.07, max(zs) + 0.07
    corners = []
    for a in np.linspace(0.0, 2 * math.pi, 40, endpoint=False):
        corners.append(
            (
                (x0 + x1) / 2 + (x1 - x0) / 2 * math.cos(a),
                0.0,
                (z0 + z1) / 2 + (z1 - z0) / 2 * math.sin(a),
            )
        )
    xy, _ = camera.project(np.asarray(corners))
    draw.polygon([(float(x) / step, float(y) / step) for x, y in xy], fill=strength)
    for x, z_out, z_in in car.wheels:
        ring = [
            (x + 0.10 * math.cos(a), 0.0, (z_out + z_in) / 2 + 0.07 * math.sin(a))
            for a in np.linspace(0.0, 2 * math.pi, 24, endpoint=False)
        ]
        rxy, _ = camera.project(np.asarray(ring))
        draw.polygon(
            [(float(px) / step, float(py) / step) for px, py in rxy], fill=min(255, strength + 60)
        )
    mask = mask.filter(ImageFilter.GaussianBlur(blur / step))
    return mask if step == 1 else mask.resize(full, Image.Resampling.BILINEAR)


def _speckles(alpha: Array, box: tuple[int, int, int, int], seed: int) -> Array:
    """A few small opaque and half-opaque blobs in the background, away from the car."""
    rng = np.random.default_rng(seed + 41)
    h, w = alpha.shape
    out = alpha.copy()
    image = Image.fromarray(np.zeros((h, w), dtype=np.uint8), "L")
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = box
    margin = 0.04 * w
    placed = 0
    for _ in range(500):
        if placed >= 9:
            break
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        if x0 - margin <= x <= x1 + margin and y0 - margin <= y <= y1 + margin:
            continue
        r = float(rng.uniform(0.5, 3.0))
        level = 255 if placed % 2 == 0 else int(rng.integers(60, 180))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=level)
        placed += 1
    return np.maximum(out, np.asarray(image, dtype=np.float64))


def _second_car(kind: str, view: str, eye: Array, camera: Camera, width: int, seed: int) -> _Car:
    """Another car beside this one, standing on the same floor and cut by the right edge."""
    _, right, _ = camera.basis()
    slide = np.array([right[0], 0.0, right[2]])
    slide /= np.linalg.norm(slide)
    other = "suv" if kind != "suv" else "sedan"

    points = _car(other, (168, 172, 178), eye, seed + 5, np.zeros(3)).points

    def left_edge(t: float) -> float:
        xy, _ = camera.project(points + slide * t)
        return float(xy[:, 0].min())

    lo, hi = 0.5, 4.0
    goal = 0.86 * width
    for _ in range(24):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if left_edge(mid) < goal else (lo, mid)
    return _car(other, (168, 172, 178), eye, seed + 5, slide * hi)


# ---------------------------------------------------------------------------------------------
# Studio and logo


def render_studio(
    width: int,
    height: int,
    *,
    floor: float = 0.82,
    wall: RGB = (200, 203, 207),
    floor_colour: RGB = (230, 231, 233),
    seed: int = 0,
) -> Image.Image:
    """An empty light studio (RGB): a wall above the line `floor` (share of the height from the
    top), a lighter floor below it, a soft cove between, gentle gradients and a little grain."""
    if width < 16 or height < 16:
        raise ValueError(f"the image must be at least 16x16 pixels, not {width}x{height}")
    if not 0.05 <= floor <= 0.98:
        raise ValueError(f"floor must be between 0.05 and 0.98, not {floor}")
    return _grain(_studio_plane(width, height, floor, wall, floor_colour), seed, 1.2)


def _studio_plane(
    width: int, height: int, floor: float, wall: RGB, floor_colour: RGB
) -> Image.Image:
    """The studio without grain: each row a blend of wall and floor, a vignette across."""
    y = (np.arange(height, dtype=np.float32) + 0.5) / height
    x = (np.arange(width, dtype=np.float32) + 0.5) / width
    cove = np.clip((y - (floor - 0.05)) / 0.09, 0.0, 1.0)
    cove = cove * cove * (3 - 2 * cove)
    wall_rgb = np.asarray(wall, dtype=np.float32) / 255 * (0.92 + 0.08 * y / floor)[:, None]
    depth = np.clip((y - floor) / max(1 - floor, 1e-3), 0.0, 1.0)
    floor_rgb = np.asarray(floor_colour, dtype=np.float32) / 255 * (1.0 - 0.05 * depth)[:, None]
    rows = wall_rgb + (floor_rgb - wall_rgb) * cove[:, None]
    vignette = 1.0 - 0.10 * (2 * x - 1) ** 2
    rgb = np.clip(rows[:, None, :] * vignette[None, :, None] * 255 + 0.5, 0.0, 255.0)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def render_logo(width: int, *, text: str = "AUTOHAUS", colour: RGB = (18, 52, 110)) -> Image.Image:
    """A dealer logo (RGBA): a rounded badge with a swoosh and the name, soft edges, transparent
    around. The height is a third of the width."""
    if width < 32:
        raise ValueError(f"the logo must be at least 32 pixels wide, not {width}")
    ss = 4
    w, h = width * ss, max(12, width // 3) * ss
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    pad = 0.06 * h
    draw.rounded_rectangle((pad, pad, w - pad, h - pad), radius=0.30 * h, fill=(*colour, 235))
    lighter = tuple(min(255, c + 70) for c in colour)
    draw.arc(
        (0.08 * w, 0.18 * h, 0.60 * w, 1.35 * h),
        200,
        330,
        fill=(*lighter, 255),
        width=int(0.06 * h),
    )
    font = ImageFont.load_default(size=max(8, int(0.38 * h)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tx = (w - (right - left)) / 2 - left
    ty = (h - (bottom - top)) / 2 - top
    draw.text((tx, ty), text, font=font, fill=(250, 250, 252, 255))
    return layer.resize((width, h // ss), Image.Resampling.BOX)


# ---------------------------------------------------------------------------------------------
# The view


def _studio_photo(
    cutout: Image.Image,
    camera: Camera,
    cars: list[_Car],
    tyres: list[tuple[float, float]],
    seed: int,
) -> Image.Image:
    width, height = cutout.size
    horizon = min(y for _, y in tyres)
    alpha = np.asarray(cutout.getchannel("A"))
    rows = np.nonzero(alpha.max(axis=1) > 10)[0]
    top = float(rows[0]) if len(rows) else 0.3 * height
    floor = float(np.clip((horizon - 0.35 * (horizon - top)) / height, 0.2, 0.95))
    photo = _studio_plane(width, height, floor, (200, 203, 207), (230, 231, 233))
    shade = np.zeros((height, width), dtype=np.float32)
    for car in cars:
        soft = _ground_shadow(camera, car, (width, height), 120, 0.012 * width, 4)
        hard = _ground_shadow(camera, car, (width, height), 0, 0.003 * width)
        shade += np.asarray(soft, dtype=np.float32) * np.float32(0.45)
        shade += np.asarray(hard, dtype=np.float32) * np.float32(0.35)
    light = Image.fromarray((255.5 - np.clip(shade, 0.0, 204.0)).astype(np.uint8), "L")
    photo = ImageChops.multiply(photo, Image.merge("RGB", (light, light, light)))
    photo.paste(cutout, (0, 0), cutout)
    return _grain(photo, seed, 1.6)


def render_view(
    width: int,
    height: int,
    *,
    kind: str = "sedan",
    view: str = "front34",
    colour: RGB = (26, 66, 132),
    seed: int = 0,
    scale: float = 0.6,
    flaws: frozenset[str] = frozenset(),
) -> ViewRender:
    """Render a car from `view`, `scale` of the image's width wide, centred, near tyres at 84 %.

    `scale` yields when the car would not fit the height (a tall car head-on). The tyres' contact
    points are projected with the same camera and their visibility read from the painting order.
    `flaws` adds segmentation faults to the cutout (not to the photo, but `second_car`, which
    stands in both): "ragged", "ground_shadow", "speckles", "second_car".
    """
    if kind not in _SHAPES:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if view not in _POSES:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    if not 0.05 <= scale <= 1.0:
        raise ValueError(f"scale must be between 0.05 and 1, not {scale}")
    if width < 64 or height < 64:
        raise ValueError(f"the image must be at least 64x64 pixels, not {width}x{height}")
    unknown = set(flaws) - FLAWS
    if unknown:
        raise ValueError(f"unknown flaws {sorted(unknown)}; known: {', '.join(sorted(FLAWS))}")
    rgb: RGB = (int(colour[0]), int(colour[1]), int(colour[2]))
    eye, target = _pose_eye(view)
    car = _car(kind, rgb, eye, seed, np.zeros(3))
    camera = _frame(car, view, eye, target, width, height, scale)
    painted = _paint_list(car, camera)
    layer = _rasterise(painted, width, height)

    tyres: list[Tyre] = []
    for index, wheel in enumerate(car.wheels):
        x, y = _contact(camera, wheel)
        shown = 0 <= x < width and 0 <= y < height and _covered_by(painted, x, y - 1.5) == index
        tyres.append(Tyre(x, y, _near(view, wheel[0], wheel[1]), shown))
    contacts = [(t.x, t.y) for t in tyres]

    cars = [car]
    if "second_car" in flaws:
        other = _second_car(kind, view, eye, camera, width, seed)
        cars.append(other)
        layer = Image.alpha_composite(_rasterise(_paint_list(other, camera), width, height), layer)
    photo = _studio_photo(layer, camera, cars, contacts, seed)

    cutout = layer
    if "ground_shadow" in flaws:
        shadow = _ground_shadow(camera, car, (width, height), 90, 0.003 * width)
        band = Image.new("RGBA", (width, height), (38, 38, 40, 0))
        band.putalpha(shadow)
        cutout = Image.alpha_composite(band, cutout)
    alpha = np.asarray(cutout.getchannel("A"), dtype=np.float64)
    if "ragged" in flaws:
        alpha = _ragged(alpha, contacts, height, seed)
    if "speckles" in flaws:
        rows, cols = np.nonzero(alpha > 10)
        box0 = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
        alpha = _speckles(alpha, box0, seed)
    if {"ragged", "speckles"} & set(flaws):
        cutout = cutout.copy()
        cutout.putalpha(Image.fromarray(np.round(np.clip(alpha, 0, 255)).astype(np.uint8), "L"))
    rows, cols = np.nonzero(np.asarray(cutout.getchannel("A")) > 10)
    box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    return ViewRender(cutout, photo, tuple(tyres), box)
