"""The pure image pipeline: bytes and options in; encoded variants and metadata out; no I/O.

    guard -> decode (reduce on load) -> orient + sRGB -> remove background -> crop (+ frame)
          -> shadow -> flatten -> render variants -> encode

`process_image` runs it end to end; the job lifecycle calls `decode_source`, `removal_upload` and
`render` separately (through `daemon.processing`) so the remover's network call sits between them.
"""

from __future__ import annotations

from daemon.pipeline.crop import auto_crop_with_padding, content_box
from daemon.pipeline.cutout import apply_removal, removal_upload
from daemon.pipeline.decode import Source, decode_source
from daemon.pipeline.guard import ImageInfo, Limits, probe
from daemon.pipeline.options import ProcessingOptions, parse_options
from daemon.pipeline.removal import Removal
from daemon.pipeline.render import EncodedVariant, Rendered, render
from daemon.pipeline.shadow import add_drop_shadow

__all__ = [
    "EncodedVariant",
    "ImageInfo",
    "Limits",
    "ProcessingOptions",
    "Rendered",
    "Source",
    "add_drop_shadow",
    "apply_removal",
    "auto_crop_with_padding",
    "content_box",
    "decode_source",
    "parse_options",
    "probe",
    "process_image",
    "removal_upload",
    "render",
]


def process_image(
    data: bytes,
    options: ProcessingOptions | None = None,
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    removal: Removal | None = None,
) -> Rendered:
    """decode_source + render, for tests, the benchmark and simple callers."""
    options = options if options is not None else ProcessingOptions()
    return render(decode_source(data, options, limits), removal, options)
