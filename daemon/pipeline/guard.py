"""The guard step: refuse what is too large, not an image, or broken, before any pixel is decoded.

Only the header is read here (Pillow's `open` is lazy), so the job lifecycle can use `probe` to
budget memory for the pixels in flight before it commits to a decode.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from daemon.domain.errors import CorruptImage, ImageTooLarge, UnsupportedImage

# Registers HEIF/HEIC with Pillow; AVIF is built into Pillow 11.3+.
try:
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - optional at run time
    pass

Image.init()  # load every plugin now, so the names below are known to Image.open
# Our guard checks the pixel count against MAX_IMAGE_PIXELS from settings before any decode, so
# Pillow's fixed 89 MP warning (and its error at twice that) would only contradict the setting.
Image.MAX_IMAGE_PIXELS = None

# The formats we decode. Everything else (EPS, PSD, ICO, ...) is refused: fewer decoders, fewer
# attack surfaces. The JPEG opener also returns MPO, what many phones write.
ACCEPTED_FORMATS: tuple[str, ...] = (
    "JPEG",
    "PNG",
    "WEBP",
    "GIF",
    "TIFF",
    "BMP",
    "AVIF",
    "HEIF",
)


@dataclass(frozen=True)
class Limits:
    """What the guard accepts (from settings MAX_IMAGE_BYTES / MAX_IMAGE_PIXELS)."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 100_000_000


@dataclass(frozen=True)
class ImageInfo:
    """An image's header: its size as stored (before EXIF orientation) and its format."""

    width: int
    height: int
    format: str

    @property
    def pixels(self) -> int:
        """Width times height."""
        return self.width * self.height


def open_image(data: bytes, limits: Limits) -> Image.Image:
    """Open (lazily, header only) an image that passes the byte and pixel limits."""
    if not data:
        raise UnsupportedImage("The file is empty; upload a JPEG, PNG, WebP or HEIC photo.")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"The file is {len(data) / 1e6:.1f} MB, above the {limits.max_bytes / 1e6:.0f} MB "
            "limit; upload a smaller photo."
        )
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise _too_many_pixels(None, limits) from None
    except UnidentifiedImageError:
        if looks_like_image(data):
            raise CorruptImage(
                "The file starts like an image but its header is damaged; upload the photo again."
            ) from None
        raise UnsupportedImage(
            "The file is not an image this service reads; upload a JPEG, PNG, WebP or HEIC photo."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # The format was recognised but its header is broken.
        raise CorruptImage(
            f"The image header is damaged ({type(exc).__name__}); upload the photo again."
        ) from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImage("The image header gives an empty size; upload the photo again.")
    if width * height > limits.max_pixels:
        raise _too_many_pixels((width, height), limits)
    return image


# File signatures of the formats we read: a file that starts with one is a broken image, not text.
_SIGNATURES: tuple[bytes, ...] = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
)


def looks_like_image(data: bytes) -> bool:
    """Whether the bytes start with the signature of a format we read."""
    if data.startswith(_SIGNATURES):
        return True
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    if data[:2] == b"BM" and data[6:10] == b"\x00\x00\x00\x00":  # BMP: reserved bytes are 0
        return True
    return data[4:8] == b"ftyp"  # HEIF, AVIF


def probe(data: bytes, limits: Limits) -> ImageInfo:
    """Check bytes and the header's pixel count before decoding; return the stored size."""
    image = open_image(data, limits)
    try:
        return ImageInfo(image.width, image.height, str(image.format))
    finally:
        image.close()


def _too_many_pixels(size: tuple[int, int] | None, limits: Limits) -> ImageTooLarge:
    megapixels = limits.max_pixels / 1e6
    if size is None:
        return ImageTooLarge(
            f"The image has far more pixels than the {megapixels:.0f} MP limit; "
            "upload a smaller photo."
        )
    width, height = size
    return ImageTooLarge(
        f"The image is {width}x{height} ({width * height / 1e6:.0f} MP), above the "
        f"{megapixels:.0f} MP limit; upload a smaller photo."
    )
