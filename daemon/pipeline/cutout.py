"""The remove-background step's pure halves: the upload for a remover, and applying its answer."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image

from daemon.domain.errors import BackgroundRemovalFailed
from daemon.pipeline.crop import Box, subject_box
from daemon.pipeline.decode import Source
from daemon.pipeline.removal import Removal, RemovalPlan, Upload
from daemon.pipeline.resample import resize

UPLOAD_JPEG_QUALITY = 90


def removal_upload(source: Source, plan: RemovalPlan) -> Upload:
    """The upright sRGB image, long edge at most plan.max_upload_side, as JPEG or (alpha) PNG."""
    image = source.image
    limit = plan.max_upload_side
    if limit is not None and max(image.size) > limit:
        ratio = limit / max(image.size)
        size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
        image = resize(image, size)
    buffer = io.BytesIO()
    if image.mode == "RGBA":
        image.save(buffer, format="PNG", compress_level=1)
        return Upload(buffer.getvalue(), "image/png")
    image.save(buffer, format="JPEG", quality=UPLOAD_JPEG_QUALITY, subsampling=0)
    return Upload(buffer.getvalue(), "image/jpeg")


@dataclass(frozen=True)
class Layers:
    """The image to render, and its alpha when that comes separately (at any resolution).

    Keeping a provider's mask apart until the crop window is known means only the window is ever
    made RGBA: for a 12 MP photo that saves a full-size mask resize and an RGBA copy.
    """

    base: Image.Image  # RGB or RGBA
    alpha: Image.Image | None = None  # L, stretched over base; None: base's own alpha, if any

    @property
    def size(self) -> tuple[int, int]:
        """The base image's size: the coordinates every box is in."""
        return self.base.size

    @property
    def transparent(self) -> bool:
        """Whether there is an alpha channel at all."""
        return self.alpha is not None or self.base.mode == "RGBA"

    def content_box(self, own_alpha: Image.Image | None = None) -> Box | None:
        """The content's bounding box in base pixels (see crop.subject_box).

        `own_alpha`: the base's alpha channel when the caller already has it (not extracted
        again: 48 MB and 12 ms on a 48 MP cutout).
        """
        if self.alpha is None:
            return subject_box(own_alpha if own_alpha is not None else self.base)
        box = subject_box(self.alpha)
        if box is None or self.alpha.size == self.base.size:
            return box
        sx = self.base.width / self.alpha.width
        sy = self.base.height / self.alpha.height
        # Outward, plus one pixel for the interpolation's reach: no content pixel is lost.
        return (
            max(0, math.floor(box[0] * sx) - 1),
            max(0, math.floor(box[1] * sy) - 1),
            min(self.base.width, math.ceil(box[2] * sx) + 1),
            min(self.base.height, math.ceil(box[3] * sy) + 1),
        )

    def crop(self, box: Box) -> Image.Image:
        """One window of the image, with its alpha applied (RGBA when transparent)."""
        whole = box == (0, 0, *self.base.size)
        part = self.base if whole else self.base.crop(box)
        if self.alpha is None:
            return part
        sx = self.alpha.width / self.base.width
        sy = self.alpha.height / self.base.height
        window = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
        alpha = self.alpha.resize(part.size, Image.Resampling.BILINEAR, box=window)
        part = part.convert("RGBA")
        part.putalpha(alpha)
        return part


def removal_layers(image: Image.Image, removal: Removal) -> Layers:
    """The decoded image with the provider's answer: a cutout or a mask (see apply_removal)."""
    answer = _decode_answer(removal)
    if removal.kind == "mask" or answer.mode in ("L", "I;16", "I"):
        return Layers(image, answer if answer.mode == "L" else answer.convert("L"))
    cutout = answer.convert("RGBA")
    if cutout.size == image.size:
        return Layers(cutout)
    if removal.repainted:
        return Layers(cutout.resize(image.size, Image.Resampling.LANCZOS))
    return Layers(image.convert("RGB") if image.mode != "RGB" else image, cutout.getchannel("A"))


def apply_removal(image: Image.Image, removal: Removal) -> Image.Image:
    """The decoded image with the provider's transparency: a cutout or a mask, scaled to fit.

    A mask (or a cutout from a downscaled upload) only lends its alpha to the full-resolution
    original; a cutout is used whole when it is at full size, or when the provider painted on it
    (a blurred licence plate), since then its colours matter.
    """
    layers = removal_layers(image, removal)
    return layers.crop((0, 0, *layers.size))


# Pillow's own bomb check is off (the guard step checks originals against the settings), so a
# provider's answer gets a ceiling of its own before it is decoded.
MAX_ANSWER_PIXELS = 200_000_000


def _decode_answer(removal: Removal) -> Image.Image:
    try:
        answer = Image.open(io.BytesIO(removal.png), formats=("PNG", "WEBP", "JPEG"))
        if answer.width * answer.height > MAX_ANSWER_PIXELS:
            raise BackgroundRemovalFailed(
                f"The {removal.provider} service answered with an image of "
                f"{answer.width}x{answer.height} pixels, far larger than the photo."
            )
        answer.load()
    except (OSError, ValueError, SyntaxError, EOFError):
        raise BackgroundRemovalFailed(
            f"The {removal.provider} service answered with an unreadable image for this photo."
        ) from None
    return answer
