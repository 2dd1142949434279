"""Colour management: every decoded image becomes 8-bit RGB or RGBA in sRGB.

Transforms are built once per embedded profile (building one costs more than applying it to a
preview-sized image) and cached by the profile's bytes.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageCms

SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Embedded in every output so browsers and portals need not guess (about 600 bytes).
SRGB_ICC: bytes = SRGB_PROFILE.tobytes()

_ALPHA_MODES = frozenset({"RGBA", "LA", "La", "RGBa", "PA"})


def to_srgb(image: Image.Image) -> Image.Image:
    """Convert any decoded mode and embedded ICC profile to 8-bit sRGB RGB or RGBA."""
    icc = image.info.get("icc_profile")
    image = _to_8bit(image)
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        converted = _apply_profile(image, icc)
        if converted is not None:
            image = converted
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode == "P":
        palette = image.palette
        has_alpha = "transparency" in image.info or (palette is not None and palette.mode == "RGBA")
        return image.convert("RGBA" if has_alpha else "RGB")
    if image.mode in _ALPHA_MODES:
        return image.convert("RGBA")
    if image.mode == "L" and "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("RGB")


def drop_opaque_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """RGBA whose alpha is 255 everywhere is RGB: cheaper downstream and honestly opaque.

    Also the alpha channel of an image that keeps it (None otherwise): extracted for the check,
    it is what the crop reads next.
    """
    if image.mode != "RGBA":
        return image, None
    alpha = image.getchannel("A")
    if alpha.getextrema() == (255, 255):
        return image.convert("RGB"), None
    return image, alpha


def _to_8bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit greyscale to 8-bit L by scaling (Pillow's convert would clip at 255)."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        array = np.asarray(image)
        if image.mode == "F":
            peak = float(array.max()) if array.size else 1.0
            scaled = array * (255.0 / peak) if peak > 255.0 else array
        else:
            peak = int(array.max()) if array.size else 0
            shift = 8 if peak > 255 else 0
            scaled = np.right_shift(array.astype(np.uint32), shift)
        out = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")
        out.info = dict(image.info)
        return out
    return image


def _apply_profile(image: Image.Image, icc: bytes) -> Image.Image | None:
    digest = hashlib.sha256(icc).digest()
    transform = _transform(digest, icc, image.mode)
    if transform is None:
        return None
    return ImageCms.applyTransform(image, transform)


@lru_cache(maxsize=32)
def _transform(_digest: bytes, icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    # _digest is the cache key; icc rides along (lru_cache hashes the bytes too, but cheaply).
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError):
        return None  # a broken profile: the pixels are most likely sRGB anyway
    description = (ImageCms.getProfileDescription(profile) or "").lower()
    if "srgb" in description and mode != "CMYK":
        return None
    out_mode = "RGBA" if mode == "RGBA" else "RGB"
    try:
        return ImageCms.buildTransform(
            profile, SRGB_PROFILE, mode, out_mode, ImageCms.Intent.PERCEPTUAL
        )
    except ImageCms.PyCMSError:
        return None
