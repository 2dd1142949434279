"""The pipeline as its own table of contents: one ordered list of steps, one signature.

    download -> decode -> prepare_upload -> remove_background -> apply_removal -> crop
             -> shadow -> compose -> variants -> watermark -> encode -> upload

Every step takes the `Work` of one photo and fills in what it makes. Its entry says the stage it
reports (the contract's stage names), the progress bar's value when it starts and its timing
key, so those three never disagree; `runner.py` runs the list and owns what every step shares.
Three steps are I/O (`io=True`): the caller performs them through its own ports (the job
lifecycle: the object store and the remover; `process`: files), so everything here stays pure.
Adding a step is adding a line to PIPELINE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from daemon.domain.options import ProcessingOptions
from daemon.pipeline.assets import Asset, Assets
from daemon.pipeline.backdrop import decontaminate_edges, on_backdrop
from daemon.pipeline.crop import Box
from daemon.pipeline.cutout import Layers, removal_layers, removal_upload
from daemon.pipeline.decode import Source, decode_source
from daemon.pipeline.encode import encode as encode_variant
from daemon.pipeline.encode import flatten
from daemon.pipeline.ground import clear_below_ground, find_ground
from daemon.pipeline.guard import Limits
from daemon.pipeline.layout import Layout, plan_layout
from daemon.pipeline.removal import Removal, RemovalPlan, Upload
from daemon.pipeline.sample import room_for_contact_shadow, sample_window
from daemon.pipeline.shadow import add_contact_shadow, add_drop_shadow_at
from daemon.pipeline.variants import Painted, render_variants
from daemon.pipeline.watermark import add_watermark

Stage = str  # one of the contract's stage names (CONTRACT.md section 1, `stage`)


@dataclass(frozen=True)
class EncodedVariant:
    """One rendered output, encoded."""

    name: str
    data: bytes
    width: int
    height: int
    format: str  # webp | avif | png | jpeg
    extension: str
    content_type: str


@dataclass
class Work:
    """One photo on its way through the pipeline: each step reads what earlier ones made."""

    options: ProcessingOptions
    limits: Limits = field(default_factory=Limits)
    assets: Assets = field(default_factory=Assets)
    plan: RemovalPlan | None = None  # the remover's call, when the options ask for one
    data: bytes | None = None  # the original's bytes (download)
    source: Source | None = None  # decode
    upload: Upload | None = None  # prepare_upload
    removal: Removal | None = None  # remove_background
    cache_hit: bool = False  # remove_background answered from the cache
    layers: Layers | None = None  # apply_removal (or the decoded image alone)
    layout: Layout | None = None  # crop
    canvas: Image.Image | None = None  # crop, then shadow and compose draw on it
    # On a backdrop, the canvas's box outside which it is the backdrop's own pixels (compose).
    painted: Box | None = None
    content: Box | None = None  # the vehicle's box in decoded pixels (crop)
    cut_off: bool = False  # it runs out of the photo's bottom edge: no ground to stand on
    shift: tuple[int, int] = (0, 0)  # where a drop shadow moved the canvas's origin
    has_shadow: bool = False
    transparent: bool = False  # the canvas had an alpha channel (crop)
    canvas_size: tuple[int, int] | None = None  # what the variants were made from
    original_size: tuple[int, int] | None = None  # of the upright original (decode)
    decoded_scale: tuple[float, float] = (1.0, 1.0)  # original px per decoded px (decode)
    images: dict[str, Image.Image] = field(default_factory=dict)  # variants, before encoding
    variants: dict[str, EncodedVariant] = field(default_factory=dict)
    timings: dict[str, int] = field(default_factory=dict)  # ms per step

    def need(self, name: str) -> Any:
        """What an earlier step made; a step run out of order is a bug, said plainly."""
        value = getattr(self, name)
        if value is None:
            raise RuntimeError(f"pipeline step order: {name} is not there yet")
        return value

    def need_asset(self, role: str) -> Asset:
        """The decoded backdrop or logo the options name (the download step supplies it)."""
        asset: Asset | None = getattr(self.assets, role)
        if asset is None:
            raise RuntimeError(f"the {role} the options name was not supplied to the pipeline")
        return asset


def _always(_work: Work) -> bool:
    return True


@dataclass(frozen=True)
class Step:
    """One entry of the pipeline."""

    name: str  # its timing key in result.metadata.timings
    stage: Stage  # reported while it runs
    progress: int  # the progress bar's value when it starts
    run: Callable[[Work], None] | None = None  # None: an I/O step the caller performs
    when: Callable[[Work], bool] = _always

    @property
    def io(self) -> bool:
        return self.run is None


# -- the pure steps, in pipeline order ------------------------------------------------------------


def decode(work: Work) -> None:
    """Guard, decode (reduced on load), orient and convert to sRGB."""
    work.source = decode_source(work.need("data"), work.options, work.limits)
    work.original_size = work.source.original_size
    work.decoded_scale = work.source.scale
    work.data = None  # the bytes are the caller's to keep; the pipeline is done with them


def prepare_upload(work: Work) -> None:
    """What the remover is sent: the upright image, downscaled to its limit."""
    work.upload = removal_upload(work.need("source"), work.need("plan"))


def apply_removal(work: Work) -> None:
    """The provider's cutout or mask over the decoded image (the mask kept apart until crop)."""
    work.layers = removal_layers(work.need("source").image, work.need("removal"))
    work.upload = None


def crop(work: Work) -> None:
    """The crop, frame or backdrop window, resampled once onto the canvas at output size."""
    source: Source = work.need("source")
    layers = work.layers or Layers(source.image)
    work.layers = layers
    work.transparent = layers.transparent
    options = work.options
    work.content = content = _content_box(layers, source)
    # A subject cut off by the photo's bottom edge (a detail, an interior) has no ground in the
    # picture: a contact shadow there would be a band across the frame.
    work.cut_off = content is not None and content[3] >= layers.size[1] - 1
    backdrop = work.assets.backdrop if options.backdrop is not None else None
    layout = plan_layout(
        layers.size, content, options, backdrop.size if backdrop is not None else None
    )
    tight = options.frame is None and backdrop is None
    if content is not None and tight and _shadow_wanted(work) and options.shadow.style == "contact":
        layout = room_for_contact_shadow(layout, content, options)
    work.layout = layout
    work.canvas = sample_window(layers, layout, content)
    # Everything after draws on the canvas: the decoded photo (190 MB at 48 MP with alpha) goes
    # now, not after the encode, so the later steps' buffers never add to it.
    work.layers = work.source = None


def _content_box(layers: Layers, source: Source) -> Box | None:
    """The content box, from the alpha decode extracted already when the base is its image."""
    own_alpha = source.alpha if layers.base is source.image else None
    source.alpha = None  # read once: its 48 MB (at 48 MP) go before the window is resampled
    return layers.content_box(own_alpha)


def _shadow_wanted(work: Work) -> bool:
    contact = work.options.shadow.style == "contact"
    return (
        work.options.add_shadow
        and work.transparent
        and work.content is not None
        and not (contact and work.cut_off)
    )


def clean_edges(work: Work) -> None:
    """On a studio, edge pixels take the car's colour, not the old background's (before the
    shadow is added: its pixels must stay black). The canvas is the work's own: in place."""
    decontaminate_edges(work.need("canvas"))


def shadow(work: Work) -> None:
    """The contact shadow along the ground found in the canvas, or the drop shadow."""
    canvas: Image.Image = work.need("canvas")
    box = work.need("layout").to_canvas(work.need("content"))
    left, top = max(0, box[0]), max(0, box[1])
    right, bottom = min(canvas.width, box[2]), min(canvas.height, box[3])
    style = work.options.shadow
    if style.style == "contact":
        ground = find_ground(canvas.getchannel("A"), (left, top, right, bottom))
        if ground is None:
            return  # nothing stands on anything: no shadow
        clear_below_ground(canvas, ground)  # the new shadow replaces what the cutout kept
        work.canvas = add_contact_shadow(
            canvas, (left, top, right, bottom), style.opacity, style.blur, ground=ground
        )
        work.has_shadow = True
        return
    grown, origin = add_drop_shadow_at(
        canvas, style.opacity, style.blur, style.offset, width=right - left
    )
    work.has_shadow = True
    if work.options.frame is not None or work.options.backdrop is not None:
        # A fixed canvas keeps its window; the shadow falls within its margins.
        x, y = origin
        work.canvas = grown.crop((x, y, x + canvas.width, y + canvas.height))
    else:
        work.canvas, work.shift = grown, origin


def compose(work: Work) -> None:
    """Onto the backdrop, or flattened onto the background colour; else left transparent."""
    canvas: Image.Image = work.need("canvas")
    if work.options.backdrop is not None:
        layer = canvas if canvas.mode == "RGBA" else canvas.convert("RGBA")
        work.canvas, work.painted = on_backdrop(layer, work.need_asset("backdrop"))
    elif work.options.background is not None:
        work.canvas = flatten(canvas, _hex(work.options.background))


def variants(work: Work) -> None:
    """Every variant of the canvas, each resized from the smallest larger one already made."""
    fill = _hex(work.options.background) if work.options.background else None
    canvas: Image.Image = work.need("canvas")
    painted = None
    if work.options.backdrop is not None:
        painted = Painted(work.need_asset("backdrop").resized, work.painted)
    work.images = render_variants(canvas, work.options.variants, fill, painted)
    work.canvas_size = canvas.size


def watermark(work: Work) -> None:
    """The logo on every variant, placed by the variant's own size."""
    logo = work.need_asset("logo")
    marking = work.options.watermark
    assert marking is not None  # the step's `when`
    # Two variants of the same size share one image: mark it once. A variant that needs no
    # resize is the canvas itself: it is marked in place too, since every variant has been
    # made from it already and the canvas is the work's own (never the caller's or an asset).
    marked: dict[int, Image.Image] = {}
    for image in work.images.values():
        if id(image) not in marked:
            own = image.copy() if image.readonly else image
            add_watermark(own, logo, marking)
            marked[id(image)] = own
    work.images = {name: marked[id(image)] for name, image in work.images.items()}


def encode(work: Work) -> None:
    """Each variant in its format."""
    for spec in work.options.variants:
        image = work.images[spec.name]
        work.variants[spec.name] = EncodedVariant(
            name=spec.name,
            data=encode_variant(image, spec),
            width=image.width,
            height=image.height,
            format=spec.format,
            extension=spec.extension,
            content_type=spec.content_type,
        )
    # Nothing draws after this: the pixels go before the upload, which waits on the network
    # while the next photo may already take this one's room in the memory budget.
    work.images = {}
    work.canvas = work.layers = work.source = None


PIPELINE: tuple[Step, ...] = (
    Step("download", "downloading", 5),
    Step("decode", "downloading", 12, decode),
    Step("prepare_upload", "downloading", 15, prepare_upload, when=lambda w: w.plan is not None),
    Step("remove_background", "removing_background", 20, when=lambda w: w.plan is not None),
    Step("apply_removal", "removing_background", 55, apply_removal, when=lambda w: bool(w.removal)),
    Step("crop", "cropping", 60, crop),
    Step("clean_edges", "cropping", 66, clean_edges, when=lambda w: w.options.backdrop is not None),
    Step("shadow", "shadowing", 70, shadow, when=_shadow_wanted),
    Step("compose", "rendering", 78, compose),
    Step("variants", "rendering", 80, variants),
    Step("watermark", "rendering", 85, watermark, when=lambda w: bool(w.options.watermark)),
    Step("encode", "rendering", 86, encode),
    Step("upload", "uploading", 90),
)


def _hex(colour: str) -> tuple[int, int, int]:
    value = int(colour[1:], 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255
