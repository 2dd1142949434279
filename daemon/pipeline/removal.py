"""The background-removal port: what the pipeline needs from a remover, and the `none` remover.

A remover is asked with a `RemovalPlan` (which provider mode, how large an upload) and an `Upload`
(the bytes and their content type), and answers with a `Removal`: the provider's PNG, either an
RGBA cutout or a single-channel mask for the original, and whether the provider changed colours
(a blurred licence plate). The pipeline decodes that PNG and applies it, branching on those two
facts only, never on a provider's mode name, so a remover does only I/O and the cache can keep
the provider's answer byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from daemon.domain.options import ProcessingOptions

RemovalKind = Literal["cutout", "mask"]


@dataclass(frozen=True, slots=True)
class RemovalPlan:
    """How a remover wants to be called for one job."""

    provider: str
    mode: str
    # The upload's long edge is scaled down to at most this many pixels (None: send as decoded).
    max_upload_side: int | None = None
    # This mode paints on the photo (a blurred plate): its answer's colours must be kept.
    repaints: bool = False


@dataclass(frozen=True, slots=True)
class Upload:
    """What a remover sends: the encoded image and its content type."""

    data: bytes
    content_type: str  # image/jpeg, or image/png when the photo has transparency

    @property
    def filename(self) -> str:
        """A file name for multipart forms, its extension matching the content type."""
        return "image.png" if self.content_type == "image/png" else "image.jpg"


@dataclass(frozen=True, slots=True)
class Removal:
    """A provider's answer: a PNG that is an RGBA cutout or an L (greyscale) mask."""

    kind: RemovalKind
    png: bytes
    provider: str
    mode: str
    # The provider changed colours (a blurred plate): a cutout's pixels replace the photo's.
    repainted: bool = False


class BackgroundRemover(Protocol):
    """Cuts the vehicle out of its background."""

    @property
    def provider(self) -> str:
        """A short name for metrics, the cache path and `result.metadata.provider`."""
        ...

    def plan(self, options: ProcessingOptions) -> RemovalPlan | None:
        """The call these options need, or None when no call is needed (nothing to remove)."""
        ...

    async def remove(self, upload: Upload, plan: RemovalPlan) -> Removal:
        """Send the (already downscaled) upload and return the provider's answer.

        Raises BackgroundRemovalFailed (permanent) or ProviderUnavailable/ProviderRateLimited
        (transient, with retry_after) from daemon.domain.errors.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class NoRemover:
    """The `none` remover: keeps an existing alpha channel; otherwise the image stays opaque."""

    provider = "none"

    def plan(self, options: ProcessingOptions) -> RemovalPlan | None:
        return None

    async def remove(self, upload: Upload, plan: RemovalPlan) -> Removal:
        raise AssertionError("NoRemover.plan never asks for a call")

    async def aclose(self) -> None:
        return None


def png_removal_kind(png: bytes) -> RemovalKind:
    """Whether a PNG is a mask (greyscale without alpha) or a cutout, from its IHDR colour type."""
    # Signature (8) + IHDR length (4) + "IHDR" (4) + width (4) + height (4) + bit depth (1).
    colour_type = png[25] if len(png) > 25 else 6
    return "mask" if colour_type == 0 else "cutout"
