"""The committed sample photos match their README, and the synthetic renderer behaves as asked."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from bench.make_samples import write_samples
from bench.synthetic import COLOURS, KINDS, render_pair, render_vehicle

SAMPLES = Path(__file__).resolve().parents[2] / "daemon" / "samples"
ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Row:
    """One row of the table in daemon/samples/README.md."""

    name: str
    what: str
    size: tuple[int, int]
    mode: str
    format: str


def _readme_rows() -> list[Row]:
    rows = []
    pattern = re.compile(r"^\| (\S+) \| (.+) \| (\d+)x(\d+) \| (\w+) (\w+) \|$")
    for line in (SAMPLES / "README.md").read_text(encoding="utf-8").splitlines():
        match = pattern.match(line)
        if match:
            name, what, w, h, mode, fmt = match.groups()
            rows.append(Row(name, what, (int(w), int(h)), mode, fmt))
    return rows


ROWS = _readme_rows()


def _alpha(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A"))


def test_readme_lists_every_sample_file() -> None:
    files = {p.name for p in SAMPLES.iterdir() if p.name != "README.md"}
    assert len(ROWS) >= 5
    assert {row.name for row in ROWS} == files


def test_samples_stay_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.iterdir())
    assert total < 1_500_000


def test_samples_are_package_data() -> None:
    folder = resources.files("daemon") / "samples"
    for row in ROWS:
        assert (folder / row.name).is_file()


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_sample_decodes_with_the_documented_size_and_mode(row: Row) -> None:
    with Image.open(SAMPLES / row.name) as image:
        assert image.format == row.format
        image.load()
        upright = ImageOps.exif_transpose(image)
        assert upright.size == row.size
        assert upright.mode == row.mode


@pytest.mark.parametrize("row", [r for r in ROWS if r.mode == "RGBA"], ids=lambda row: row.name)
def test_cutout_is_a_car_on_transparency_with_faint_specks(row: Row) -> None:
    with Image.open(SAMPLES / row.name) as image:
        alpha = _alpha(image)
    h, w = alpha.shape
    for y, x in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)):
        assert alpha[y, x] == 0
    solid = alpha == 255
    assert solid.mean() > 0.1  # a car, not a smudge
    _, xs = np.nonzero(alpha > 3)
    car_w = xs.max() - xs.min() + 1
    assert 0.5 * w < car_w < 0.7 * w  # rendered at scale 0.6
    # See-through side windows, as good providers return them.
    assert np.count_nonzero((alpha > 150) & (alpha < 240)) > 1000
    # Real cutouts carry specks of alpha 1 to 3 far from the car: the crop must ignore them.
    faint = np.argwhere((alpha >= 1) & (alpha <= 3))
    far = faint[(faint[:, 1] < xs.min() - 50) | (faint[:, 1] > xs.max() + 50)]
    assert len(far) > 0


def test_rotated_original_carries_its_exif_orientation() -> None:
    with Image.open(SAMPLES / "studio-suv-rotated.jpg") as image:
        assert image.getexif()[ORIENTATION_TAG] == 6
        assert image.size == (1067, 1600)  # stored on its side
        upright = ImageOps.exif_transpose(image)
    # Upright, the car's wheels are on the floor: the darkest band is in the lower half.
    grey = np.asarray(upright.convert("L"), dtype=np.float32)
    darkest_row = int(np.argmin(grey.mean(axis=1)))
    assert darkest_row > grey.shape[0] // 2


def test_srgb_original_embeds_its_profile() -> None:
    with Image.open(SAMPLES / "studio-sedan.jpg") as image:
        icc = image.info.get("icc_profile")
    assert icc
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    assert "sRGB" in ImageCms.getProfileDescription(profile)


def test_mask_matches_its_original() -> None:
    with Image.open(SAMPLES / "studio-hatchback.jpg") as photo:
        rgb = np.asarray(photo.convert("RGB"), dtype=np.float32)
    with Image.open(SAMPLES / "studio-hatchback.mask.png") as mask_image:
        assert mask_image.mode == "L"
        mask = np.asarray(mask_image)
    assert mask.shape == rgb.shape[:2]
    car = mask == 255
    # A red car on a light grey backdrop: red dominates under the mask only.
    redness = rgb[..., 0] - rgb[..., 1]
    assert np.median(redness[car]) > 40
    assert np.median(np.abs(redness[mask == 0])) < 10


def test_make_samples_reproduces_the_committed_pixels(tmp_path: Path) -> None:
    for path in write_samples(tmp_path):
        with Image.open(path) as fresh, Image.open(SAMPLES / path.name) as committed:
            a = np.asarray(fresh, dtype=np.int16)
            b = np.asarray(committed, dtype=np.int16)
        assert a.shape == b.shape
        # PNGs are lossless; JPEG decoders may round differently between library builds.
        assert np.abs(a - b).mean() < (0.01 if path.suffix == ".png" else 1.0)


def test_render_is_deterministic_for_a_seed() -> None:
    first = render_vehicle(320, 200, kind="suv", seed=3)
    again = render_vehicle(320, 200, kind="suv", seed=3)
    other = render_vehicle(320, 200, kind="suv", seed=4)
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()
    photo = render_vehicle(320, 200, kind="suv", seed=3, backdrop=True)
    assert photo.tobytes() == render_vehicle(320, 200, kind="suv", seed=3, backdrop=True).tobytes()


@pytest.mark.parametrize("kind", KINDS)
def test_cutout_has_a_transparent_background(kind: str) -> None:
    cutout = render_vehicle(400, 240, kind=kind, colour=COLOURS["green"], scale=0.5)
    assert cutout.mode == "RGBA"
    assert cutout.size == (400, 240)
    alpha = _alpha(cutout)
    assert alpha[:10].max() <= 3  # only faint specks above the car
    assert alpha[120].max() == 255
    _, xs = np.nonzero(alpha > 3)
    assert abs((xs.max() - xs.min() + 1) - 200) <= 8  # scale 0.5 of the width


def test_backdrop_is_an_opaque_light_studio() -> None:
    photo = render_vehicle(400, 240, kind="hatchback", backdrop=True)
    assert photo.mode == "RGB"
    corners = np.asarray(photo, dtype=np.float32)[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.min() > 140  # light grey, not transparent black


def test_pair_shows_the_same_car_at_the_same_place() -> None:
    photo, cutout = render_pair(480, 320, kind="pickup", colour=COLOURS["red"], seed=9)
    assert photo.mode == "RGB" and cutout.mode == "RGBA"
    assert photo.size == cutout.size == (480, 320)
    rgba = np.asarray(cutout, dtype=np.float32)
    solid = rgba[..., 3] == 255
    diff = np.abs(np.asarray(photo, dtype=np.float32) - rgba[..., :3])[solid]
    assert np.median(diff) < 6  # grain only
    assert (
        np.median(np.abs(np.asarray(photo, dtype=np.float32)[~solid] - rgba[..., :3][~solid])) > 100
    )


def test_large_images_keep_the_layout() -> None:
    # Above the working resolution the car is painted smaller and scaled up to the same place.
    small = _alpha(render_vehicle(1000, 600, kind="sedan", seed=2)) > 128
    large = _alpha(render_vehicle(3000, 1800, kind="sedan", seed=2)) > 128
    ys, xs = np.nonzero(large)
    ys_s, xs_s = np.nonzero(small)
    assert abs(xs.min() / 3 - xs_s.min()) <= 2
    assert abs(xs.max() / 3 - xs_s.max()) <= 2
    assert abs(ys.max() / 3 - ys_s.max()) <= 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "tractor"}, "kind must be one of"),
        ({"scale": 1.5}, "scale must be between"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_vehicle(100, 100, **kwargs)  # type: ignore[arg-type]


def test_contact_sheet_has_a_row_per_image_and_reports_failures(tmp_path: Path) -> None:
    from bench import contact_sheet

    broken = tmp_path / "broken.jpg"
    broken.write_bytes((SAMPLES / "studio-sedan.jpg").read_bytes()[:2000])  # truncated
    out = tmp_path / "sheet.png"
    images = [str(SAMPLES / "cutout-pickup.png"), str(SAMPLES / "studio-hatchback.jpg")]
    status = contact_sheet.main([*images, str(broken), "--out", str(out)])
    assert status == 1  # the broken file failed, the others were drawn
    rows = [contact_sheet.run_one(Path(p), contact_sheet.parse_options(None)) for p in images]
    assert [row.failed for row in rows] == [False, False]
    assert [len(row.panels) for row in rows] == [3, 3]  # before, processed, grid
    assert "mask" in rows[1].note  # the sample's provider mask was applied
    failed = contact_sheet.run_one(broken, contact_sheet.parse_options(None))
    assert failed.failed and failed.panels[-1].caption[-1].startswith("corrupt_image: ")
    with Image.open(out) as sheet:
        assert sheet.mode == "RGB"
        # Three rows of one style: the height grows with the rows.
        style = contact_sheet.SHEET
        assert sheet.height > 3 * style.panel[1]
        assert sheet.width == 2 * style.margin + 3 * style.panel[0] + 2 * style.gap


def test_contact_sheet_refuses_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import contact_sheet

    status = contact_sheet.main(["--options", '{"padding": 1}', "--out", str(tmp_path / "x.png")])
    assert status == 2
    assert "invalid_options" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
