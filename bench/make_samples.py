"""Write the sample photos in daemon/samples/ (deterministic: run it again, get the same pixels).

    python bench/make_samples.py [--out daemon/samples]

Studio JPEG originals (one with an EXIF orientation tag, one with an embedded sRGB profile, one
with the single-channel mask a provider's fg-mask mode returns for it) and RGBA cutout PNGs as a
background-removal API returns them. Every car is rendered by bench/synthetic.py: no third-party
photos, so the samples are free of third-party rights.
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import COLOURS, render_pair, render_vehicle

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "daemon" / "samples"
ORIENTATION_TAG = 0x0112
SOFTWARE_TAG = 0x0131
JPEG_QUALITY = 85


@dataclass(frozen=True, slots=True)
class Sample:
    """One file to write."""

    name: str
    kind: str
    colour: str
    seed: int
    size: tuple[int, int]  # as displayed (after EXIF orientation)
    form: str  # "studio" (JPEG original) or "cutout" (RGBA PNG)
    orientation: int = 1  # EXIF orientation tag to store (the pixels are stored rotated to match)
    icc: bool = False  # embed an sRGB ICC profile
    mask: bool = False  # also write <stem>.mask.png, the provider's fg-mask for this original


SAMPLES: tuple[Sample, ...] = (
    Sample("studio-sedan.jpg", "sedan", "blue", 11, (1600, 1067), "studio", icc=True),
    Sample("studio-suv-rotated.jpg", "suv", "silver", 12, (1600, 1067), "studio", orientation=6),
    Sample("studio-hatchback.jpg", "hatchback", "red", 13, (1600, 1067), "studio", mask=True),
    Sample("cutout-pickup.png", "pickup", "black", 14, (1600, 900), "cutout"),
    Sample("cutout-sedan.png", "sedan", "white", 15, (1600, 900), "cutout"),
)


def srgb_profile() -> bytes:
    """Pillow's built-in sRGB profile, with a fixed creation date so the bytes never change."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    # ICC header bytes 24-35: creation date and time (year, month, day, hour, minute, second).
    data[24:36] = bytes.fromhex("07e8 0001 0001 0000 0000 0000")
    return bytes(data)


def _stored(image: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera would store for an upright `image` with this EXIF orientation."""
    # Orientation 6 displays the stored pixels rotated 90 degrees clockwise, 8 counter-clockwise,
    # 3 by 180; so the camera stores them turned the other way.
    turns = {
        1: None,
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,
        8: Image.Transpose.ROTATE_270,
    }
    if orientation not in turns:
        raise ValueError(f"unsupported EXIF orientation {orientation}")
    turn = turns[orientation]
    return image if turn is None else image.transpose(turn)


def encode_jpeg(image: Image.Image, *, orientation: int = 1, icc: bool = False) -> bytes:
    """A camera-like JPEG: 4:2:0, quality 85, with the EXIF tags and profile asked for."""
    exif = Image.Exif()
    exif[SOFTWARE_TAG] = "vehicle-photo-daemon bench/make_samples.py (synthetic)"
    if orientation != 1:
        exif[ORIENTATION_TAG] = orientation
    extra = {"icc_profile": srgb_profile()} if icc else {}
    out = io.BytesIO()
    _stored(image, orientation).save(
        out,
        "JPEG",
        quality=JPEG_QUALITY,
        subsampling="4:2:0",
        optimize=True,
        exif=exif.tobytes(),
        **extra,
    )
    return out.getvalue()


def encode_png(image: Image.Image) -> bytes:
    """A PNG as a provider returns it (no extra chunks)."""
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def write_samples(out_dir: Path) -> list[Path]:
    """Render and write every sample; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for sample in SAMPLES:
        width, height = sample.size
        colour = COLOURS[sample.colour]
        path = out_dir / sample.name
        if sample.form == "studio":
            photo, cutout = render_pair(
                width, height, kind=sample.kind, colour=colour, seed=sample.seed
            )
            path.write_bytes(encode_jpeg(photo, orientation=sample.orientation, icc=sample.icc))
            if sample.mask:
                mask_path = path.with_name(f"{path.stem}.mask.png")
                mask_path.write_bytes(encode_png(cutout.getchannel("A")))
                written.append(mask_path)
        else:
            cutout = render_vehicle(
                width, height, kind=sample.kind, colour=colour, seed=sample.seed
            )
            path.write_bytes(encode_png(cutout))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write into")
    args = parser.parse_args(argv)
    total = 0
    for path in write_samples(args.out):
        size = path.stat().st_size
        total += size
        print(f"{path.name:32} {size / 1024:8.1f} KiB")
    print(f"{'total':32} {total / 1024:8.1f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
