"""Synthetic vehicle photos, free of third-party rights, for the samples, tests and benchmarks.

`render_vehicle` paints a side view of a car (sedan, SUV, hatchback or pickup) either as an RGBA
cutout on a transparent background, the way a background-removal API returns it, or photographed
in a studio: an opaque RGB image on a light grey cyclorama with a floor shadow, a faint reflection
and sensor grain. `render_pair` gives both for the same car at the same place.

Only numpy and Pillow, no I/O. The car is painted at a working resolution of at most
`MAX_WORK_SIDE` pixels (masks drawn four times larger and box-filtered, for anti-aliased edges)
and scaled up, so a 48 MP image costs about as much as a 4 MP one plus the final resize.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageChops, ImageDraw, ImageFilter

Point = tuple[float, float]
RGB = tuple[int, int, int]
FloatArray = NDArray[np.float32]

KINDS = ("sedan", "suv", "hatchback", "pickup")
COLOURS: dict[str, RGB] = {
    "blue": (26, 66, 132),
    "red": (148, 20, 26),
    "silver": (160, 165, 172),
    "white": (222, 224, 226),
    "black": (30, 32, 36),
    "green": (30, 80, 60),
}
# The car is painted at most this large (long side of the whole image), then scaled up.
MAX_WORK_SIDE = 2048
_SUPERSAMPLE = 4
_WINDOW_ALPHA = 0.8  # side windows stay slightly see-through in a cutout, as good providers do


@dataclass(frozen=True, slots=True)
class _Shape:
    """A side view in car lengths: u from the rear (0) to the front (1), v up from the ground."""

    height: float
    outline: tuple[Point, ...]
    windows: tuple[Point, ...]
    pillars: tuple[float, ...]
    belt: float
    clearance: float
    wheels: tuple[float, float]
    wheel_radius: float
    arch_radius: float
    doors: tuple[float, ...]
    headlight: tuple[Point, ...]
    taillight: tuple[Point, ...]
    mirror: tuple[Point, ...]
    spokes: int


# Tables of points read better several to a line.
# fmt: off
_SHAPES: dict[str, _Shape] = {
    "sedan": _Shape(
        height=0.295,
        outline=(
            (0.030, 0.068), (0.008, 0.105), (0.000, 0.160), (0.006, 0.205), (0.030, 0.222),
            (0.160, 0.228), (0.215, 0.240), (0.300, 0.282), (0.400, 0.295), (0.500, 0.293),
            (0.560, 0.280), (0.680, 0.222), (0.760, 0.212), (0.900, 0.198), (0.975, 0.180),
            (0.995, 0.150), (1.000, 0.110), (0.988, 0.078), (0.960, 0.062), (0.050, 0.062),
        ),
        windows=(
            (0.262, 0.230), (0.310, 0.272), (0.400, 0.284), (0.500, 0.282), (0.552, 0.270),
            (0.655, 0.224),
        ),
        pillars=(0.448,),
        belt=0.224,
        clearance=0.062,
        wheels=(0.205, 0.790),
        wheel_radius=0.068,
        arch_radius=0.080,
        doors=(0.268, 0.455, 0.672),
        headlight=(
            (0.925, 0.186), (0.982, 0.176), (0.995, 0.156), (0.950, 0.160),
        ),
        taillight=(
            (0.002, 0.196), (0.034, 0.212), (0.046, 0.190), (0.004, 0.178),
        ),
        mirror=(
            (0.650, 0.226), (0.628, 0.246), (0.642, 0.258), (0.672, 0.244),
        ),
        spokes=5,
    ),
    "suv": _Shape(
        height=0.405,
        outline=(
            (0.025, 0.092), (0.005, 0.140), (0.000, 0.220), (0.008, 0.300), (0.030, 0.375),
            (0.060, 0.396), (0.300, 0.405), (0.560, 0.400), (0.640, 0.385), (0.735, 0.300),
            (0.800, 0.287), (0.940, 0.272), (0.985, 0.246), (1.000, 0.200), (0.998, 0.140),
            (0.982, 0.102), (0.950, 0.085), (0.050, 0.085),
        ),
        windows=(
            (0.042, 0.302), (0.064, 0.374), (0.300, 0.390), (0.560, 0.386), (0.628, 0.372),
            (0.712, 0.300),
        ),
        pillars=(0.215, 0.470),
        belt=0.300,
        clearance=0.085,
        wheels=(0.185, 0.800),
        wheel_radius=0.085,
        arch_radius=0.099,
        doors=(0.285, 0.478, 0.690),
        headlight=(
            (0.925, 0.262), (0.980, 0.250), (0.996, 0.226), (0.945, 0.232),
        ),
        taillight=(
            (0.003, 0.270), (0.030, 0.300), (0.046, 0.290), (0.004, 0.238),
        ),
        mirror=(
            (0.708, 0.302), (0.684, 0.322), (0.698, 0.336), (0.726, 0.318),
        ),
        spokes=6,
    ),
    "hatchback": _Shape(
        height=0.360,
        outline=(
            (0.030, 0.082), (0.008, 0.120), (0.000, 0.190), (0.010, 0.260), (0.040, 0.322),
            (0.090, 0.352), (0.300, 0.360), (0.480, 0.352), (0.560, 0.330), (0.690, 0.245),
            (0.780, 0.230), (0.930, 0.210), (0.985, 0.185), (1.000, 0.140), (0.990, 0.098),
            (0.960, 0.075), (0.050, 0.075),
        ),
        windows=(
            (0.072, 0.262), (0.098, 0.330), (0.300, 0.345), (0.470, 0.338), (0.545, 0.318),
            (0.668, 0.248),
        ),
        pillars=(0.180, 0.420),
        belt=0.250,
        clearance=0.075,
        wheels=(0.180, 0.795),
        wheel_radius=0.078,
        arch_radius=0.092,
        doors=(0.270, 0.428, 0.680),
        headlight=(
            (0.930, 0.204), (0.982, 0.190), (0.996, 0.164), (0.948, 0.170),
        ),
        taillight=(
            (0.008, 0.232), (0.030, 0.262), (0.050, 0.254), (0.012, 0.212),
        ),
        mirror=(
            (0.664, 0.250), (0.640, 0.270), (0.654, 0.283), (0.684, 0.266),
        ),
        spokes=5,
    ),
    "pickup": _Shape(
        height=0.372,
        outline=(
            (0.020, 0.095), (0.001, 0.130), (0.000, 0.246), (0.010, 0.255), (0.398, 0.255),
            (0.412, 0.264), (0.430, 0.360), (0.460, 0.372), (0.640, 0.370), (0.680, 0.360),
            (0.760, 0.276), (0.800, 0.268), (0.950, 0.258), (0.990, 0.240), (1.000, 0.190),
            (0.998, 0.130), (0.980, 0.098), (0.950, 0.085), (0.050, 0.085),
        ),
        windows=(
            (0.440, 0.270), (0.464, 0.356), (0.636, 0.356), (0.668, 0.348), (0.742, 0.276),
        ),
        pillars=(0.568,),
        belt=0.268,
        clearance=0.085,
        wheels=(0.160, 0.800),
        wheel_radius=0.088,
        arch_radius=0.103,
        doors=(0.425, 0.575, 0.695),
        headlight=(
            (0.930, 0.250), (0.984, 0.238), (0.997, 0.212), (0.950, 0.218),
        ),
        taillight=(
            (0.000, 0.244), (0.014, 0.244), (0.014, 0.180), (0.000, 0.180),
        ),
        mirror=(
            (0.738, 0.280), (0.712, 0.300), (0.726, 0.314), (0.758, 0.296),
        ),
        spokes=6,
    ),
}
# fmt: on


@dataclass(frozen=True, slots=True)
class _Scene:
    """Where the car sits, in working-resolution pixels."""

    width: int  # the requested image
    height: int
    factor: float  # working pixels per output pixel (<= 1)
    work_w: int
    work_h: int
    shape: _Shape
    length: float  # car length in working pixels
    x0: float  # rear end of the car
    ground: float  # y of the ground line
    box: tuple[int, int, int, int]  # the painted region, working pixels (may overhang the image)

    def point(self, u: float, v: float, s: float = 1.0) -> Point:
        """Car coordinates to pixels of the painted region, supersampled by `s`."""
        return (
            (self.x0 + u * self.length - self.box[0]) * s,
            (self.ground - v * self.length - self.box[1]) * s,
        )

    @property
    def region_size(self) -> tuple[int, int]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]


def _layout(width: int, height: int, kind: str, scale: float, seed: int) -> _Scene:
    if kind not in _SHAPES:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not 0.05 <= scale <= 1.0:
        raise ValueError(f"scale must be between 0.05 and 1, not {scale}")
    if width < 16 or height < 16:
        raise ValueError(f"the image must be at least 16x16 pixels, not {width}x{height}")
    shape = _SHAPES[kind]
    factor = min(1.0, MAX_WORK_SIDE / max(width, height))
    work_w, work_h = max(16, round(width * factor)), max(16, round(height * factor))
    rng = np.random.default_rng(seed)
    length = scale * work_w
    car_h = shape.height * length
    x0 = (work_w - length) / 2 + float(rng.uniform(-0.02, 0.02)) * work_w
    ground = min(0.55 * work_h + car_h / 2, 0.92 * work_h)
    pad = 0.02 * length + 2
    box = (
        math.floor(x0 - pad),
        math.floor(ground - car_h - pad),
        math.ceil(x0 + length + pad),
        math.ceil(ground + pad),
    )
    return _Scene(width, height, factor, work_w, work_h, shape, length, x0, ground, box)


def _chaikin(points: tuple[Point, ...], iterations: int = 3) -> list[Point]:
    """Round a closed polygon's corners by corner cutting (never overshoots, unlike splines)."""
    pts = list(points)
    for _ in range(iterations):
        out: list[Point] = []
        for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1], strict=True):
            out.append((0.75 * ax + 0.25 * bx, 0.75 * ay + 0.25 * by))
            out.append((0.25 * ax + 0.75 * bx, 0.25 * ay + 0.75 * by))
        pts = out
    return pts


def _smoothstep(edge0: float, edge1: float, x: FloatArray) -> FloatArray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    out: FloatArray = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    return out


class _Masks:
    """Anti-aliased coverage masks of the painted region, drawn supersampled then box-filtered."""

    def __init__(self, scene: _Scene) -> None:
        self.scene = scene
        self.size = scene.region_size
        s = _SUPERSAMPLE
        self.big = (self.size[0] * s, self.size[1] * s)

    def pts(self, points: tuple[Point, ...] | list[Point]) -> list[Point]:
        return [self.scene.point(u, v, _SUPERSAMPLE) for u, v in points]

    def new(self) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        image = Image.new("L", self.big, 0)
        return image, ImageDraw.Draw(image)

    def done(self, image: Image.Image) -> FloatArray:
        small = image.reduce(_SUPERSAMPLE)
        return np.asarray(small, dtype=np.float32) / np.float32(255.0)

    def polygon(self, points: tuple[Point, ...] | list[Point]) -> FloatArray:
        image, draw = self.new()
        draw.polygon(self.pts(points), fill=255)
        return self.done(image)


def _paint_body(scene: _Scene, colour: RGB, masks: _Masks) -> Image.Image:
    """The painted body, windows, pillars, door seams and wheel wells, as an RGBA region."""
    shape, length = scene.shape, scene.length
    rw, rh = scene.region_size
    body = masks.polygon(_chaikin(shape.outline))
    windows = masks.polygon(_chaikin(shape.windows, 2))

    image, draw = masks.new()
    for pu in shape.pillars:
        # A slanted black trim band, clipped to the glass below.
        draw.polygon(
            masks.pts(
                [
                    (pu - 0.010, shape.belt - 0.01),
                    (pu + 0.010, shape.belt - 0.01),
                    (pu + 0.002, shape.height + 0.01),
                    (pu - 0.018, shape.height + 0.01),
                ]
            ),
            fill=255,
        )
    pillars = masks.done(image) * windows

    image, draw = masks.new()
    seam = max(1, round(0.0016 * length * _SUPERSAMPLE))
    for du in shape.doors:
        draw.line(
            masks.pts([(du, shape.belt - 0.004), (du - 0.012, shape.clearance + 0.012)]),
            fill=255,
            width=seam,
        )
    # The sill line and the shoulder crease run the car's length.
    draw.line(
        masks.pts([(0.06, shape.clearance + 0.022), (0.94, shape.clearance + 0.020)]),
        fill=150,
        width=seam,
    )
    seams = masks.done(image)

    image, draw = masks.new()
    for wu in shape.wheels:
        cx, cy = scene.point(wu, shape.wheel_radius, _SUPERSAMPLE)
        r = shape.arch_radius * length * _SUPERSAMPLE
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    wells = masks.done(image) * body

    # Shading: rows are heights above the ground, columns positions along the car.
    v = ((scene.ground - (scene.box[1] + np.arange(rh, dtype=np.float32) + 0.5)) / length)[:, None]
    u = ((scene.box[0] + np.arange(rw, dtype=np.float32) + 0.5 - scene.x0) / length)[None, :]
    belt = shape.belt
    lower = 0.50 + 0.50 * _smoothstep(shape.clearance, belt - 0.03, v)
    crease = 1.0 - 0.22 * np.exp(-(((v - (belt - 0.030)) / 0.008) ** 2))
    ends = 0.78 + 0.22 * np.sqrt(np.clip(np.sin(np.pi * np.clip(u, 0.0, 1.0)), 0.0, 1.0))
    body_image = Image.fromarray(np.round(body * 255).astype(np.uint8), "L")
    inner = np.asarray(
        body_image.filter(ImageFilter.GaussianBlur(max(1.0, 0.010 * length))), dtype=np.float32
    ) / np.float32(255.0)
    rim = 0.62 + 0.38 * np.clip((inner - 0.5) * 2.2, 0.0, 1.0)
    shade = (lower * crease * ends * rim).astype(np.float32)

    # Highlights mix towards white: the shoulder line, the studio's softboxes, the bonnet's sheen.
    shoulder = 0.60 * np.exp(-(((v - (belt - 0.013)) / 0.0055) ** 2))
    softbox = (
        0.13
        * np.exp(-(((v - 0.55 * belt) / 0.030) ** 2))
        * (0.5 + 0.5 * np.exp(-(((u - 0.36) / 0.10) ** 2)))
    )
    top = 0.28 * _smoothstep(belt - 0.002, belt + 0.02, v) * np.exp(-(((u - 0.62) / 0.25) ** 2))
    light = np.clip(shoulder + softbox + top, 0.0, 0.9).astype(np.float32)

    base = np.asarray(colour, dtype=np.float32) / np.float32(255.0)
    rgb = base[None, None, :] * shade[..., None]
    rgb = rgb + (1.0 - rgb) * light[..., None]

    # Glass: dark, lighter towards the roof, with a diagonal reflection.
    height = max(shape.height - belt, 1e-3)
    t = np.clip((v - belt) / height, 0.0, 1.0)
    glass_top = np.array([0.36, 0.40, 0.46], dtype=np.float32)
    glass_low = np.array([0.07, 0.08, 0.10], dtype=np.float32)
    glass = glass_low[None, None, :] + (glass_top - glass_low)[None, None, :] * (t**1.6)[..., None]
    streak = np.exp(-(((((u - 0.9 * (v - belt)) % 0.23) - 0.115) / 0.03) ** 2))
    glass = glass + (1.0 - glass) * (0.16 * streak)[..., None]
    rgb = rgb + (glass - rgb) * windows[..., None]
    trim = np.array([0.04, 0.04, 0.05], dtype=np.float32)
    rgb = rgb + (trim - rgb) * pillars[..., None]
    rgb = rgb * (1.0 - 0.55 * seams)[..., None]
    well = np.array([0.035, 0.035, 0.04], dtype=np.float32)
    rgb = rgb + (well - rgb) * wells[..., None]

    alpha = body * (1.0 - (1.0 - _WINDOW_ALPHA) * windows * (1.0 - pillars))
    out = np.empty((rh, rw, 4), dtype=np.uint8)
    out[..., :3] = np.round(np.clip(rgb, 0.0, 1.0) * 255)
    out[..., 3] = np.round(alpha * 255)
    out[..., :3][out[..., 3] == 0] = 0
    return Image.fromarray(out, "RGBA")


def _paint_details(scene: _Scene, seed: int) -> Image.Image:
    """Wheels, lights, handles and mirror, drawn with flat colours on a supersampled layer."""
    shape, s = scene.shape, _SUPERSAMPLE
    rw, rh = scene.region_size
    layer = Image.new("RGBA", (rw * s, rh * s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)

    def pts(points: tuple[Point, ...] | list[Point]) -> list[Point]:
        return [scene.point(u, v, s) for u, v in points]

    def disc(cx: float, cy: float, r: float, fill: tuple[int, int, int, int]) -> None:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)

    rng = np.random.default_rng(seed + 7)
    edge = max(1, round(0.0012 * scene.length * s))
    for u in shape.wheels:
        cx, cy = scene.point(u, shape.wheel_radius, s)
        r = shape.wheel_radius * scene.length * s
        disc(cx, cy, r, (20, 20, 22, 255))  # tread
        disc(cx, cy, 0.93 * r, (36, 36, 39, 255))  # sidewall
        disc(cx, cy, 0.70 * r, (24, 24, 26, 255))
        disc(cx, cy, 0.66 * r, (96, 99, 104, 255))  # rim lip
        # Rim face: concentric steps, lighter towards the top-left where the softbox is.
        for i, tone in enumerate((176, 188, 198, 206)):
            k = 0.63 - 0.035 * i
            disc(cx - 0.02 * r * i, cy - 0.03 * r * i, k * r, (tone, tone + 3, tone + 8, 255))
        spin = float(rng.uniform(0.0, 2 * math.pi))
        for j in range(shape.spokes):
            a0 = spin + 2 * math.pi * j / shape.spokes + 0.14 * 2 * math.pi / shape.spokes
            a1 = a0 + 0.62 * 2 * math.pi / shape.spokes
            arc = [a0 + (a1 - a0) * q / 8 for q in range(9)]
            hole = [(cx + 0.55 * r * math.cos(a), cy + 0.55 * r * math.sin(a)) for a in arc]
            hole += [(cx + 0.24 * r * math.cos(a), cy + 0.24 * r * math.sin(a)) for a in arc[::-1]]
            draw.polygon(hole, fill=(34, 34, 38, 255))
        disc(cx, cy, 0.19 * r, (150, 153, 158, 255))  # hub
        disc(cx, cy, 0.09 * r, (70, 72, 76, 255))

    draw.polygon(
        pts(_chaikin(shape.headlight, 2)),
        fill=(232, 234, 236, 255),
        outline=(60, 62, 66, 255),
        width=edge,
    )
    hl = shape.headlight
    inner = [
        ((hl[0][0] + hl[1][0]) / 2, (hl[0][1] + hl[3][1]) / 2 + 0.004),
        (hl[1][0] - 0.004, (hl[1][1] + hl[2][1]) / 2),
        hl[2],
        hl[3],
    ]
    draw.polygon(pts(_chaikin(tuple(inner), 2)), fill=(250, 246, 226, 255))
    draw.polygon(
        pts(_chaikin(shape.taillight, 2)),
        fill=(170, 18, 22, 255),
        outline=(70, 8, 10, 255),
        width=edge,
    )
    tl = shape.taillight
    glow = [
        tl[0],
        ((tl[0][0] + tl[1][0]) / 2, (tl[0][1] + tl[1][1]) / 2),
        ((tl[3][0] + tl[2][0]) / 2, (tl[3][1] + tl[2][1]) / 2),
        tl[3],
    ]
    draw.polygon(pts(glow), fill=(226, 60, 56, 255))
    # A dark lower intake in each bumper.
    cl = shape.clearance
    draw.polygon(
        pts(
            _chaikin(
                (
                    (0.955, cl + 0.012),
                    (0.996, cl + 0.022),
                    (0.998, cl + 0.046),
                    (0.950, cl + 0.040),
                ),
                2,
            )
        ),
        fill=(30, 31, 34, 255),
    )
    draw.polygon(
        pts(
            _chaikin(
                (
                    (0.005, cl + 0.030),
                    (0.040, cl + 0.012),
                    (0.046, cl + 0.022),
                    (0.004, cl + 0.044),
                ),
                2,
            )
        ),
        fill=(30, 31, 34, 220),
    )
    for u in shape.doors[1:]:
        u0 = u - 0.07
        handle = (
            (u0, shape.belt - 0.020),
            (u0 + 0.036, shape.belt - 0.019),
            (u0 + 0.036, shape.belt - 0.027),
            (u0, shape.belt - 0.028),
        )
        draw.polygon(pts(_chaikin(handle, 2)), fill=(40, 40, 44, 150))
    # The mirror is half the drawn outline, around its base on the door.
    mx, my = shape.mirror[0]
    mirror = tuple((mx + 0.55 * (x - mx), my + 0.55 * (y - my)) for x, y in shape.mirror)
    draw.polygon(pts(_chaikin(mirror, 2)), fill=(26, 27, 30, 255))

    return layer.resize((rw, rh), Image.Resampling.BOX)


def _paint_car(scene: _Scene, colour: RGB, seed: int) -> Image.Image:
    car = _paint_body(scene, colour, _Masks(scene))
    return Image.alpha_composite(car, _paint_details(scene, seed))


def _speckle(cutout: Image.Image, scene: _Scene, seed: int) -> None:
    """Add what real cutouts carry: a few faint (alpha 1 to 3) specks far from the car."""
    rng = np.random.default_rng(seed + 101)
    w, h = cutout.size
    f = scene.factor
    margin = 0.08 * w
    left, top = scene.box[0] / f - margin, scene.box[1] / f - margin
    right, bottom = scene.box[2] / f + margin, scene.box[3] / f + margin
    draw = ImageDraw.Draw(cutout)
    placed = 0
    for _ in range(400):
        if placed >= 24:
            break
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if left <= x <= right and top <= y <= bottom:
            continue
        sw, sh = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        grey = int(rng.integers(60, 200))
        alpha = int(rng.integers(1, 4))
        draw.rectangle(
            (x, y, min(w, x + sw) - 1, min(h, y + sh) - 1), fill=(grey, grey, grey, alpha)
        )
        placed += 1


def _cutout(scene: _Scene, car: Image.Image, seed: int) -> Image.Image:
    canvas = Image.new("RGBA", (scene.width, scene.height), (0, 0, 0, 0))
    box = scene.box
    if scene.factor < 1.0:
        f = scene.factor
        size = (round((box[2] - box[0]) / f), round((box[3] - box[1]) / f))
        car = car.resize(size, Image.Resampling.BICUBIC)
        canvas.paste(car, (round(box[0] / f), round(box[1] / f)))
    else:
        canvas.paste(car, (box[0], box[1]))
    _speckle(canvas, scene, seed)
    return canvas


def _studio(scene: _Scene) -> FloatArray:
    """A light grey cyclorama: a wall curving into a floor, darker towards the edges."""
    w, h = scene.work_w, scene.work_h
    y = np.arange(h, dtype=np.float32)[:, None] + 0.5
    x = np.arange(w, dtype=np.float32)[None, :] + 0.5
    car_h = scene.shape.height * scene.length
    horizon = scene.ground - 0.55 * car_h
    wall = 0.74 + 0.14 * np.clip(y / max(horizon, 1.0), 0.0, 1.0)
    floor = 0.93 - 0.07 * np.clip((y - horizon) / max(h - horizon, 1.0), 0.0, 1.0)
    cove = _smoothstep(horizon - 0.35 * car_h, horizon + 0.25 * car_h, y)
    level = wall + (floor - wall) * cove
    cx = scene.x0 + scene.length / 2
    vignette = 1.0 - 0.12 * ((x - cx) / (w / 2)) ** 2 - 0.04 * ((y - h / 2) / (h / 2)) ** 2
    tint = np.array([0.985, 0.99, 1.0], dtype=np.float32)
    out: FloatArray = ((level * vignette)[..., None] * tint[None, None, :]).astype(np.float32)
    return out


def _floor_shadow(scene: _Scene) -> FloatArray:
    """How much light the car takes from the floor: a soft pool under it, dark at the tyres."""
    w, h = scene.work_w, scene.work_h
    length, shape = scene.length, scene.shape
    soft = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(soft)
    cx = scene.x0 + length / 2
    draw.ellipse(
        (
            cx - 0.54 * length,
            scene.ground - 0.035 * length,
            cx + 0.54 * length,
            scene.ground + 0.035 * length,
        ),
        fill=120,
    )
    rear, front = (scene.x0 + u * length for u in shape.wheels)
    draw.rectangle(
        (rear, scene.ground - 0.012 * length, front, scene.ground + 0.012 * length), fill=200
    )
    soft = soft.filter(ImageFilter.GaussianBlur(0.03 * length))
    hard = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(hard)
    r = shape.wheel_radius * length
    for x in (rear, front):
        draw.ellipse(
            (x - 0.80 * r, scene.ground - 0.08 * r, x + 0.80 * r, scene.ground + 0.10 * r), fill=255
        )
    hard = hard.filter(ImageFilter.GaussianBlur(max(1.0, 0.010 * length)))
    dark = np.asarray(soft, dtype=np.float32) * 0.0028 + np.asarray(hard, dtype=np.float32) * 0.0026
    return np.clip(dark, 0.0, 0.85).astype(np.float32)


def _photograph(scene: _Scene, car: Image.Image, seed: int) -> Image.Image:
    """The car in the studio, as an opaque RGB photo at the requested size."""
    bg = _studio(scene) * (1.0 - _floor_shadow(scene))[..., None]
    photo = Image.fromarray(np.round(np.clip(bg, 0.0, 1.0) * 255).astype(np.uint8), "RGB")
    box = scene.box
    # A faint mirror image on the glossy floor, fading within a short distance.
    mirror = car.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    rh = box[3] - box[1]
    top = round(2 * scene.ground - box[1] - rh)
    rows = np.arange(rh, dtype=np.float32) + top + 0.5 - scene.ground
    fade = 0.14 * np.exp(-np.clip(rows, 0.0, None) / (0.03 * scene.length))
    fade[rows < 0] = 0.0
    alpha = np.asarray(mirror.getchannel("A"), dtype=np.float32) * fade[:, None]
    mirror.putalpha(Image.fromarray(np.round(alpha).astype(np.uint8), "L"))
    photo.paste(mirror, (box[0], top), mirror)
    # Windows let the studio show through, as the cutout's alpha says.
    photo.paste(car, (box[0], box[1]), car)
    if scene.factor < 1.0:
        photo = photo.resize((scene.width, scene.height), Image.Resampling.BICUBIC)
    return _grain(photo, seed)


def _grain(photo: Image.Image, seed: int, sigma: float = 1.6) -> Image.Image:
    """Add sensor noise. A seeded tile is repeated: cheap at 48 MP and invisible at this level."""
    rng = np.random.default_rng(seed + 202)
    tile_side = 251
    noise = np.clip(rng.normal(128.0, sigma, (tile_side, tile_side, 3)), 0, 255)
    tile = Image.fromarray(np.round(noise).astype(np.uint8), "RGB")
    w, h = photo.size
    plane = Image.new("RGB", (w, h))
    for ty in range(0, h, tile_side):
        for tx in range(0, w, tile_side):
            plane.paste(tile, (tx, ty))
    return ImageChops.add(photo, plane, scale=1.0, offset=-128)


def _render(
    width: int, height: int, kind: str, colour: RGB, seed: int, scale: float
) -> tuple[_Scene, Image.Image]:
    scene = _layout(width, height, kind, scale, seed)
    rgb: RGB = (int(colour[0]), int(colour[1]), int(colour[2]))
    return scene, _paint_car(scene, rgb, seed)


def render_vehicle(
    width: int,
    height: int,
    *,
    kind: str = "sedan",
    colour: RGB = COLOURS["blue"],
    seed: int = 0,
    scale: float = 0.6,
    backdrop: bool = False,
) -> Image.Image:
    """Render a synthetic car, `scale` of the image's width long, wheels on a ground line.

    backdrop=False: an RGBA cutout on a transparent background, as a background-removal API
    returns it (see-through windows, faint specks of alpha 1 to 3 far from the car).
    backdrop=True: the same car photographed in a studio, an opaque RGB image.
    The same arguments always give the same pixels.
    """
    scene, car = _render(width, height, kind, colour, seed, scale)
    if backdrop:
        return _photograph(scene, car, seed)
    return _cutout(scene, car, seed)


def render_pair(
    width: int,
    height: int,
    *,
    kind: str = "sedan",
    colour: RGB = COLOURS["blue"],
    seed: int = 0,
    scale: float = 0.6,
) -> tuple[Image.Image, Image.Image]:
    """The studio photo (RGB) and the provider's cutout (RGBA) of the same car at the same place."""
    scene, car = _render(width, height, kind, colour, seed, scale)
    return _photograph(scene, car, seed), _cutout(scene, car, seed)
