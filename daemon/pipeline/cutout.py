"""The remove-background step's pure halves: the upload for a remover, and applying its answer."""

from __future__ import annotations

import io

from PIL import Image

from daemon.errors import BackgroundRemovalFailed
from daemon.pipeline.decode import Source
from daemon.pipeline.removal import Removal, RemovalPlan

UPLOAD_JPEG_QUALITY = 90


def removal_upload(source: Source, plan: RemovalPlan) -> bytes:
    """The upright sRGB image, long edge at most plan.max_upload_side, as JPEG or (alpha) PNG."""
    image = source.image
    limit = plan.max_upload_side
    if limit is not None and max(image.size) > limit:
        ratio = limit / max(image.size)
        size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    if image.mode == "RGBA":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.save(buffer, format="JPEG", quality=UPLOAD_JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def apply_removal(image: Image.Image, removal: Removal) -> Image.Image:
    """The decoded image with the provider's transparency: a cutout or a mask, scaled to fit.

    A mask (or a cutout from a downscaled upload) only lends its alpha to the full-resolution
    original; a cutout is used whole when it is at full size, or when the provider painted on it
    (a blurred licence plate), since then its colours matter.
    """
    answer = _decode_answer(removal)
    if removal.kind == "mask" or answer.mode in ("L", "I;16", "I"):
        alpha = answer if answer.mode == "L" else answer.convert("L")
        return _with_alpha(image, alpha)
    cutout = answer.convert("RGBA")
    if cutout.size == image.size:
        return cutout
    if "hideclp" in removal.mode:
        return cutout.resize(image.size, Image.Resampling.LANCZOS)
    return _with_alpha(image, cutout.getchannel("A"))


def _with_alpha(image: Image.Image, alpha: Image.Image) -> Image.Image:
    if alpha.size != image.size:
        alpha = alpha.resize(image.size, Image.Resampling.BILINEAR)
    out = image.convert("RGB") if image.mode != "RGB" else image.copy()
    out.putalpha(alpha)
    return out


def _decode_answer(removal: Removal) -> Image.Image:
    try:
        answer = Image.open(io.BytesIO(removal.png), formats=("PNG", "WEBP", "JPEG"))
        answer.load()
    except (OSError, ValueError, SyntaxError, EOFError):
        raise BackgroundRemovalFailed(
            f"The {removal.provider} service answered with an unreadable image for this photo."
        ) from None
    return answer
