"""A generated corpus of bad and odd inputs, each with its expected result or error code."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, features

from daemon.domain.errors import ProcessingError
from daemon.domain.options import ProcessingOptions, parse_options
from daemon.pipeline import Limits, Rendered, probe, process_image
from tests.unit.pipeline.images import car_cutout, encode

SMALL = parse_options(
    {"variants": [{"name": "processed", "max_width": 512, "max_height": 512, "format": "png"}]}
)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def decompression_bomb() -> bytes:
    """A real 12000x12000 PNG (144 MP) of zeros that compresses to about 140 kB."""
    width, height = 12000, 12000
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    parts = [compressor.compress(row * 500) for _ in range(height // 500)]
    parts.append(compressor.flush())
    return _png_header(width, height, b"".join(parts))


def huge_canvas_tiny_file() -> bytes:
    """A header that claims 60000x60000 pixels, with almost no data behind it."""
    return _png_header(60000, 60000, zlib.compress(b"\x00" * 100))


def truncated_jpeg() -> bytes:
    data = encode(Image.effect_noise((600, 400), 60).convert("RGB"), "JPEG", quality=90)
    return data[: len(data) // 2]


def truncated_png() -> bytes:
    data = encode(car_cutout((400, 300), (50, 50, 350, 250)))
    return data[: len(data) * 2 // 3]


def sixteen_bit_png() -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 256, dtype=np.uint16), (64, 1))
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    return encode(image)


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (300, 200), (0, 255, 255, 0)), "JPEG", quality=95)


def palette_with_transparency() -> bytes:
    image = Image.new("P", (400, 300), 0)
    image.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    image.paste(1, (100, 100, 300, 200))
    return encode(image, transparency=0)


def exif_rotated_jpeg() -> bytes:
    image = Image.new("RGB", (400, 200), (20, 120, 220))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    return encode(image, "JPEG", exif=exif.tobytes())


def exif_rotated_jpeg_with_profile() -> bytes:
    """Orientation 8 and an embedded (non-sRGB-named) profile: both must be honoured."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    # Renamed, so the pipeline does not recognise it as sRGB and converts through it.
    icc = icc.replace(b"sRGB", b"test")
    icc = icc.replace("sRGB".encode("utf-16-be"), "test".encode("utf-16-be"))
    assert b"sRGB" not in icc
    image = Image.new("RGB", (400, 200), (20, 120, 220))
    image.paste((250, 250, 0), (0, 0, 40, 200))  # a yellow band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90 degrees counter-clockwise to display
    return encode(image, "JPEG", exif=exif.tobytes(), icc_profile=icc, quality=95)


def _check_rotated_with_profile(result: Rendered) -> None:
    assert result.metadata["original_size"] == [200, 400]
    image = Image.open(io.BytesIO(result.variants["processed"].data)).convert("RGB")
    assert image.height > image.width
    # Rotated counter-clockwise, the stored left edge is now at the bottom.
    r, g, b = image.getpixel((image.width // 2, image.height - 3))  # type: ignore[misc]
    assert r > 200 and g > 200 and b < 80


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (120, 80), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def grey_alpha_png() -> bytes:
    image = Image.new("LA", (300, 200), (0, 0))
    image.paste((120, 255), (50, 50, 250, 150))
    return encode(image)


def webp_cutout() -> bytes:
    return encode(car_cutout((600, 400), (100, 100, 500, 300)), "WEBP", lossless=True)


def _pixel(result: Rendered, name: str = "processed") -> tuple[int, ...]:
    image = Image.open(io.BytesIO(result.variants[name].data)).convert("RGBA")
    value = image.getpixel((image.width // 2, image.height // 2))
    assert isinstance(value, tuple)
    return value


def _check_sixteen_bit(result: Rendered) -> None:
    image = Image.open(io.BytesIO(result.variants["processed"].data)).convert("L")
    row = np.asarray(image)[image.height // 2]
    # Scaled, not clipped: a ramp from black to white, with a mid grey in the middle.
    assert row[0] < 20 and row[-1] > 235 and 90 < row[len(row) // 2] < 165


def _check_cmyk(result: Rendered) -> None:
    r, g, b, _ = _pixel(result)
    assert r > 200 and g < 80 and b < 80


def _check_palette(result: Rendered) -> None:
    assert result.metadata["background_removed"] is True
    assert result.metadata["crop_box"][0] > 0  # cropped to the opaque block plus padding


def _check_rotated(result: Rendered) -> None:
    assert result.metadata["original_size"] == [200, 400]
    assert result.variants["processed"].height > result.variants["processed"].width


def _check_gif(result: Rendered) -> None:
    r, _, b, _ = _pixel(result)
    assert r > 200 and b < 50  # the first frame


def _check_grey_alpha(result: Rendered) -> None:
    assert result.metadata["background_removed"] is True
    r, g, b, a = _pixel(result)
    assert a == 255 and abs(r - 120) < 4 and r == g == b


def _check_cutout(result: Rendered) -> None:
    assert result.metadata["background_removed"] is True
    assert result.metadata["has_shadow"] is True


FAILURES: list[tuple[str, Callable[[], bytes], str, Limits]] = [
    ("zero bytes", lambda: b"", "unsupported_image", Limits()),
    ("text", lambda: b"just some text, not a photo\n" * 10, "unsupported_image", Limits()),
    ("svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', "unsupported_image", Limits()),
    (
        "icon (a format we do not read)",
        lambda: encode(Image.new("RGB", (32, 32)), "ICO"),
        "unsupported_image",
        Limits(),
    ),
    ("truncated jpeg", truncated_jpeg, "corrupt_image", Limits()),
    ("truncated png", truncated_png, "corrupt_image", Limits()),
    (
        "png signature then garbage",
        lambda: b"\x89PNG\r\n\x1a\n" + b"\x07" * 64,
        "corrupt_image",
        Limits(),
    ),
    ("decompression bomb", decompression_bomb, "image_too_large", Limits()),
    ("huge canvas in a tiny file", huge_canvas_tiny_file, "image_too_large", Limits()),
    (
        "over the byte limit",
        lambda: encode(Image.new("RGB", (64, 64))),
        "image_too_large",
        Limits(max_bytes=50),
    ),
]

SUCCESSES: list[tuple[str, Callable[[], bytes], Callable[[Rendered], None]]] = [
    ("16-bit png", sixteen_bit_png, _check_sixteen_bit),
    ("cmyk jpeg", cmyk_jpeg, _check_cmyk),
    ("palette with transparency", palette_with_transparency, _check_palette),
    ("exif-rotated jpeg", exif_rotated_jpeg, _check_rotated),
    ("exif-rotated with profile", exif_rotated_jpeg_with_profile, _check_rotated_with_profile),
    ("animated gif", animated_gif, _check_gif),
    ("grey with alpha", grey_alpha_png, _check_grey_alpha),
    ("webp cutout", webp_cutout, _check_cutout),
]


@pytest.mark.parametrize(("name", "make", "code", "limits"), FAILURES, ids=[f[0] for f in FAILURES])
def test_bad_input_fails_with_its_code(
    name: str, make: Callable[[], bytes], code: str, limits: Limits
) -> None:
    with pytest.raises(ProcessingError) as caught:
        process_image(make(), SMALL, limits=limits)
    assert caught.value.code == code
    message = caught.value.message
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize(("name", "make", "check"), SUCCESSES, ids=[s[0] for s in SUCCESSES])
def test_odd_input_is_processed(
    name: str, make: Callable[[], bytes], check: Callable[[Rendered], None]
) -> None:
    check(process_image(make(), SMALL))


def test_probe_reads_the_header_only() -> None:
    info = probe(huge_canvas_tiny_file(), Limits(max_pixels=10_000_000_000))
    assert (info.width, info.height, info.format, info.pixels) == (60000, 60000, "PNG", 3.6e9)


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_is_read() -> None:
    data = encode(car_cutout((300, 200), (50, 50, 250, 150)), "AVIF", quality=90)
    assert process_image(data, SMALL).metadata["background_removed"] is True


def test_defaults_render_the_contract_variants() -> None:
    result = process_image(encode(car_cutout()), ProcessingOptions())
    assert list(result.variants) == ["processed", "detail", "grid"]
    assert (result.variants["grid"].width, result.variants["grid"].height) == (640, 480)
    for variant in result.variants.values():
        image = Image.open(io.BytesIO(variant.data))
        assert image.format == "WEBP" and image.size == (variant.width, variant.height)
        assert "exif" not in image.info and image.info.get("icc_profile")


def test_heic_is_read() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    image = car_cutout((320, 200), (40, 40, 280, 160)).convert("RGB")
    try:
        data = encode(image, "HEIF", quality=90)
    except (KeyError, OSError, ValueError, RuntimeError):
        pytest.skip(f"pillow_heif {pillow_heif.__version__} cannot encode HEIF here")
    result = process_image(data, SMALL)
    assert result.metadata["original_size"] == [320, 200]


def test_a_broken_icc_profile_is_ignored() -> None:
    data = encode(Image.new("RGB", (200, 100), (10, 200, 30)), "JPEG", icc_profile=b"not a profile")
    r, g, b, _ = _pixel(process_image(data, SMALL))
    assert g > 180 and r < 40 and b < 60


def test_jpeg_and_cover_variants() -> None:
    options = parse_options(
        {
            "variants": [
                {"name": "portal", "max_width": 800, "format": "jpeg", "quality": 80},
                {"name": "square", "width": 200, "height": 200, "fit": "cover", "format": "png"},
            ]
        }
    )
    result = process_image(encode(car_cutout()), options)
    portal = Image.open(io.BytesIO(result.variants["portal"].data))
    assert portal.format == "JPEG" and portal.mode == "RGB" and portal.width == 800
    assert portal.info.get("progressive") or portal.info.get("progression")
    assert portal.getpixel((1, 1)) == (255, 255, 255)  # transparency flattened onto white
    square = Image.open(io.BytesIO(result.variants["square"].data))
    assert square.size == (200, 200)
    alpha = np.asarray(square.convert("RGBA"))[..., 3]
    # cover: the canvas is wider than square, so the car's middle fills the whole width.
    assert (alpha.min(axis=1) == 255).any()
    assert result.variants["portal"].extension == "jpg"
    assert result.variants["portal"].content_type == "image/jpeg"
