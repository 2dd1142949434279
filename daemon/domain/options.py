"""The job options (CONTRACT.md section 3): the single source of the options schema.

`ProcessingOptions` validates a job's `options` JSON; its JSON Schema is exported to
`docs/options.schema.json` for the admin UI (`python -m daemon schema`). Unknown keys and bad
values raise `InvalidOptions` with one sentence that names the key.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daemon.domain.errors import InvalidOptions

ImageFormat = Literal["webp", "avif", "png", "jpeg"]
Fit = Literal["contain", "cover"]
HexColour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", examples=["#ffffff"])]
Pixels = Annotated[int, Field(ge=1, le=16384)]
# An object in the assets bucket (or a file under `process --assets DIR`): a relative path whose
# segments never start with a dot, so it cannot reach outside the bucket or the folder.
AssetPath = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_ -][A-Za-z0-9._ -]*(/[A-Za-z0-9_ -][A-Za-z0-9._ -]*)*$",
        max_length=512,
        examples=["studio/showroom.jpg"],
    ),
]
PresetName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", examples=["showroom"])]
Position = Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"]

FORMAT_EXTENSIONS: dict[str, str] = {"webp": "webp", "avif": "avif", "png": "png", "jpeg": "jpg"}
FORMAT_CONTENT_TYPES: dict[str, str] = {
    "webp": "image/webp",
    "avif": "image/avif",
    "png": "image/png",
    "jpeg": "image/jpeg",
}


class _Strict(BaseModel):
    # strict: "true" is not a boolean and "5" is not a number; a typo in the UI must fail loudly.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ShadowOptions(_Strict):
    """How the shadow under the vehicle looks."""

    style: Literal["contact", "drop"] = Field(
        default="contact",
        description="contact: a soft shadow on the ground under the body and a darker line at the "
        "tyres; drop: an offset, blurred copy of the silhouette.",
    )
    opacity: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Darkness of the shadow, 0 to 1."
    )
    blur: float | None = Field(
        default=None,
        ge=0.0,
        le=200.0,
        description="Blur radius in pixels at the size of the processed variant; null picks one "
        "from the vehicle's size.",
    )
    offset: list[int] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="[x, y] offset in pixels at the size of the processed variant (drop style); "
        "null picks one from the vehicle's size.",
    )


class FrameOptions(_Strict):
    """A fixed-aspect canvas so that every photo of a listing lines up."""

    aspect: str = Field(
        default="4:3",
        pattern=r"^[1-9][0-9]{0,2}:[1-9][0-9]{0,2}$",
        description="Canvas aspect, W:H.",
    )
    subject_width: float = Field(
        default=0.8, gt=0.0, le=1.0, description="Share of the canvas width the vehicle spans."
    )
    ground: float = Field(
        default=0.85,
        gt=0.0,
        le=1.0,
        description="Height of the wheels' line, as a share from the top.",
    )

    @property
    def ratio(self) -> float:
        w, h = (int(part) for part in self.aspect.split(":"))
        return w / h


class BackdropOptions(_Strict):
    """A dealer's studio behind the vehicle: the backdrop image makes the canvas."""

    path: AssetPath = Field(description="The backdrop image, an object in the assets bucket.")
    floor: float = Field(
        default=0.82,
        gt=0.0,
        le=1.0,
        description="Where the tyres stand: the floor line, as a share of the height from the top.",
    )


class WatermarkOptions(_Strict):
    """A logo on every variant."""

    path: AssetPath = Field(
        description="The logo (PNG with alpha), an object in the assets bucket."
    )
    position: Position = Field(default="bottom-right", description="Where the logo sits.")
    width: float = Field(
        default=0.15, gt=0.0, le=1.0, description="The logo's width, as a share of the variant's."
    )
    margin: float = Field(
        default=0.03,
        ge=0.0,
        le=0.5,
        description="Space to the nearest edges, as a share of the variant's width.",
    )
    opacity: float = Field(default=1.0, ge=0.0, le=1.0, description="1 keeps the logo's alpha.")


class VariantSpec(_Strict):
    """One rendered output.

    Either bounded (`max_width` and/or `max_height`: the image is scaled down to fit, never up) or a
    fixed canvas (`width` and `height`: the image is fitted with `fit` and centred).
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    max_width: Pixels | None = None
    max_height: Pixels | None = None
    width: Pixels | None = None
    height: Pixels | None = None
    fit: Fit = "contain"
    format: ImageFormat = "webp"
    quality: int = Field(default=85, ge=1, le=100)

    @model_validator(mode="after")
    def _one_sizing(self) -> VariantSpec:
        canvas = self.width is not None or self.height is not None
        bounded = self.max_width is not None or self.max_height is not None
        if canvas and bounded:
            raise ValueError("give either max_width/max_height or width and height, not both")
        if canvas and (self.width is None or self.height is None):
            raise ValueError("a canvas variant needs both width and height")
        if not canvas and not bounded:
            raise ValueError("give max_width/max_height or width and height")
        return self

    @property
    def extension(self) -> str:
        return FORMAT_EXTENSIONS[self.format]

    @property
    def content_type(self) -> str:
        return FORMAT_CONTENT_TYPES[self.format]

    @property
    def bounding_box(self) -> tuple[int, int]:
        """The largest width and height this variant can have (for decode-size planning)."""
        if self.width is not None and self.height is not None:
            return self.width, self.height
        return self.max_width or 16384, self.max_height or 16384


DEFAULT_VARIANTS: tuple[VariantSpec, ...] = (
    VariantSpec(name="processed", max_width=2560, max_height=2560, format="webp", quality=90),
    VariantSpec(name="detail", max_width=1600, max_height=1600, format="webp", quality=85),
    VariantSpec(name="grid", width=640, height=480, fit="contain", format="webp", quality=80),
)


class ProcessingOptions(_Strict):
    """A job's options. Every key is optional; the defaults are the contract's."""

    remove_background: bool = Field(
        default=True, description="Cut the vehicle out of its background."
    )
    hide_license_plate: bool = Field(
        default=False, description="Have the provider blur the licence plate."
    )
    auto_crop: bool = Field(
        default=True, description="Crop to the content's bounding box plus padding."
    )
    padding_percent: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Padding on each side, as a share of the content's size.",
    )
    min_padding: int = Field(
        default=20, ge=0, le=4096, description="At least this many pixels of padding."
    )
    add_shadow: bool = Field(default=True, description="Add a shadow under the vehicle.")
    shadow: ShadowOptions = Field(
        default_factory=lambda: ShadowOptions(),
        description="How the shadow looks; give only the keys to change.",
    )
    background: HexColour | None = Field(
        default=None, description='null keeps transparency; "#rrggbb" flattens onto that colour.'
    )
    frame: FrameOptions | None = Field(
        default=None, description="null: tight crop plus padding; otherwise a fixed-aspect canvas."
    )
    variants: list[VariantSpec] = Field(
        default_factory=lambda: list(DEFAULT_VARIANTS),
        min_length=1,
        max_length=8,
        description="The outputs to render; replaces the defaults when given.",
    )
    backdrop: BackdropOptions | None = Field(
        default=None,
        description="null: none; otherwise the vehicle on this studio image, which makes the "
        "canvas (the vehicle spans frame.subject_width of it, tyres on the floor line).",
    )
    watermark: WatermarkOptions | None = Field(
        default=None, description="null: none; otherwise this logo on every variant."
    )
    preset: PresetName | None = Field(
        default=None,
        description="A row of processing_presets: its options apply first, the job's own keys "
        "override them (objects merge key by key).",
    )

    @model_validator(mode="after")
    def _unique_variant_names(self) -> ProcessingOptions:
        names = [v.name for v in self.variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant names must be unique, {duplicates[0]!r} repeats")
        return self


def parse_options(raw: Any) -> ProcessingOptions:
    """Validate a job's options (a dict, a JSON string, or None) or raise InvalidOptions."""
    if raw is None:
        raw = {}
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidOptions(f"Options are not valid JSON ({exc.msg}).") from None
    if not isinstance(raw, dict):
        raise InvalidOptions("Options must be a JSON object.")
    try:
        return ProcessingOptions.model_validate(raw)
    except ValidationError as exc:
        raise InvalidOptions(_one_sentence(exc)) from None


def merge_options(preset: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """A preset's options with a job's own keys over them; objects merge key by key.

    Lists (variants) and scalars are replaced whole: half a variant list is no variant list. A
    job's `null` clears what the preset set (`"backdrop": null` takes the studio away).
    """
    merged = dict(preset)
    for key, value in own.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = merge_options(base, value)
        else:
            merged[key] = value
    return merged


def _one_sentence(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    key = ".".join(str(part) for part in first["loc"]) or "options"
    if first["type"] == "extra_forbidden":
        return f"Unknown option '{key}'."
    message = first["msg"].removeprefix("Value error, ")
    return f"Option '{key}' is invalid: {message}."


def options_json_schema() -> dict[str, Any]:
    """The JSON Schema of the options, as exported for the admin UI."""
    schema = ProcessingOptions.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "processing_jobs.options"
    return schema
