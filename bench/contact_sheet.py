"""A before/after contact sheet of the pipeline, for a person to look at.

    python bench/contact_sheet.py [IMAGES...] --out contact-sheet.png [--options JSON]
                                  [--docs docs/before-after.png]

Runs `daemon.pipeline.process_image` on each image (default: the samples in daemon/samples/) and
writes one PNG: per row the original, the processed variant and the grid variant, on a
checkerboard where transparent, with the file name, sizes and timings. The "before" of a cutout is
the cutout itself. A studio original runs with the `none` remover (its backdrop stays, so the row
shows only crop, shadow and variants) unless a provider mask lies beside it as `<stem>.mask.png`,
which is then applied as a provider's fg-mask answer would be. `--docs` also writes a small
one-row example for the README.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.domain.errors import ProcessingError, as_processing_error
from daemon.pipeline import ProcessingOptions, Rendered, parse_options, process_image
from daemon.pipeline.removal import Removal

SAMPLES = Path(__file__).resolve().parent.parent / "daemon" / "samples"
MASK_SUFFIX = ".mask.png"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".avif", ".tif", ".tiff", ".gif")
DOCS_EXAMPLE = "studio-hatchback.jpg"  # the full story: a studio photo, its mask, the result

# Colours of the sheet.
PAPER = (250, 250, 251)
INK = (34, 36, 40)
MUTED = (104, 108, 116)
ERROR_INK = (176, 32, 32)
CHECK_LIGHT, CHECK_DARK = 236, 212


@dataclass(frozen=True, slots=True)
class Style:
    """Sizes of one sheet: panel box, gaps and type."""

    panel: tuple[int, int] = (460, 300)
    gap: int = 16
    margin: int = 24
    text: int = 15
    title: int = 20
    check: int = 10


SHEET = Style()
DOCS = Style(panel=(400, 250), gap=12, margin=14, text=13, title=16, check=8)


@dataclass(frozen=True, slots=True)
class Panel:
    """One picture of a row with its caption lines."""

    image: Image.Image | None
    caption: tuple[str, ...]
    error: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """One input image: its panels and the row's heading."""

    heading: str
    note: str
    panels: tuple[Panel, ...]
    failed: bool = False


def default_images(folder: Path = SAMPLES) -> list[Path]:
    """The sample originals and cutouts (not the masks that go with them)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.endswith(MASK_SUFFIX)
    )


def mask_for(path: Path) -> Path | None:
    """The provider mask kept beside an original as <stem>.mask.png, if any."""
    candidate = path.with_name(path.stem + MASK_SUFFIX)
    return candidate if candidate.is_file() else None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _kib(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} B"


def _upright(data: bytes) -> tuple[Image.Image, str]:
    with Image.open(BytesIO(data)) as image:
        fmt = str(image.format)
        image.load()
        return ImageOps.exif_transpose(image), fmt


def _timings(metadata: dict[str, object]) -> str:
    timings = metadata.get("timings")
    total = metadata.get("processing_time")
    if not isinstance(timings, dict):
        return f"{total} ms"
    top = sorted(timings.items(), key=lambda kv: -int(kv[1]))[:4]
    steps = ", ".join(f"{name} {ms}" for name, ms in top)
    return f"{total} ms ({steps})"


def run_one(path: Path, options: ProcessingOptions) -> Row:
    """Process one image and describe it as a row of panels (a failure is a row too)."""
    data = path.read_bytes()
    mask = mask_for(path)
    removal = None
    if mask is not None:
        removal = Removal(kind="mask", png=mask.read_bytes(), provider="sample", mode="fg-mask")
    try:
        before, fmt = _upright(data)
    except Exception:  # the pipeline says why below; this panel just stays empty
        before, fmt = None, "?"
    before_caption = (
        "before: the original",
        f"{before.width}x{before.height} {fmt} {before.mode}, {_kib(len(data))}"
        if before is not None
        else f"unreadable, {_kib(len(data))}",
    )
    before_panel = Panel(before, before_caption)

    if mask is not None:
        note = f"studio original with a provider's mask ({mask.name}) applied"
    elif before is not None and before.has_transparency_data:
        note = "provider cutout as input: crop, shadow and variants"
    else:
        note = "remover none: the backdrop stays, only crop, shadow and variants"

    started = time.perf_counter()
    try:
        rendered = process_image(data, options, removal=removal)
    except Exception as exc:  # one row per failure, like `process`: never a traceback
        error = exc if isinstance(exc, ProcessingError) else as_processing_error(exc)
        failed = Panel(None, ("failed", f"{error.code}: {error.message}"), error=True)
        return Row(path.name, note, (before_panel, failed), failed=True)
    wall = round((time.perf_counter() - started) * 1000)
    return Row(path.name, note, (before_panel, *_variant_panels(rendered, wall)))


def _variant_panels(rendered: Rendered, wall_ms: int) -> list[Panel]:
    names = list(rendered.variants)
    shown = [names[0]]
    if "grid" in rendered.variants and names[0] != "grid":
        shown.append("grid")
    panels = []
    for i, name in enumerate(shown):
        variant = rendered.variants[name]
        image, _ = _upright(variant.data)
        caption = [
            f"after: {name}",
            f"{variant.width}x{variant.height} {variant.format}, {_kib(len(variant.data))}",
        ]
        if i == 0:
            caption.append(_timings(rendered.metadata) + f", wall {wall_ms} ms")
        panels.append(Panel(image, tuple(caption)))
    return panels


def checkerboard(size: tuple[int, int], cell: int) -> Image.Image:
    """The usual grey checkerboard that shows where an image is transparent."""
    w, h = size
    ys, xs = np.indices((h, w))
    board = np.where(((xs // cell) + (ys // cell)) % 2 == 0, CHECK_LIGHT, CHECK_DARK)
    return Image.fromarray(board.astype(np.uint8), "L").convert("RGB")


def _fit(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    scale = min(box[0] / image.width, box[1] / image.height, 1.0)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    rgba = image.convert("RGBA")
    return rgba.resize(size, Image.Resampling.LANCZOS) if size != image.size else rgba


def _draw_panel(sheet: Image.Image, panel: Panel, at: tuple[int, int], style: Style) -> None:
    x, y = at
    pw, ph = style.panel
    draw = ImageDraw.Draw(sheet)
    if panel.image is not None:
        shown = _fit(panel.image, style.panel)
        # Centre the picture in its box; the checkerboard covers the picture only.
        ox = x + (pw - shown.width) // 2
        oy = y + (ph - shown.height) // 2
        board = checkerboard(shown.size, style.check).convert("RGBA")
        board.alpha_composite(shown)
        sheet.paste(board.convert("RGB"), (ox, oy))
        draw.rectangle(
            (ox - 1, oy - 1, ox + shown.width, oy + shown.height), outline=(200, 202, 206)
        )
    else:
        draw.rectangle((x, y, x + pw - 1, y + ph - 1), outline=(220, 180, 180))
    font = _font(style.text)
    ty = y + ph + 6
    for i, line in enumerate(panel.caption):
        colour = ERROR_INK if panel.error else (INK if i == 0 else MUTED)
        for part in _wrap(line, font, pw):
            draw.text((x, ty), part, fill=colour, font=font)
            ty += style.text + 4


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if font.getlength(candidate) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    return [*lines, line] if line else lines


def _caption_height(rows: list[Row], style: Style) -> int:
    font = _font(style.text)
    lines = 0
    for row in rows:
        for panel in row.panels:
            n = sum(len(_wrap(c, font, style.panel[0])) for c in panel.caption)
            lines = max(lines, n)
    return 6 + lines * (style.text + 4)


def compose(rows: list[Row], style: Style, title: str | None) -> Image.Image:
    """Lay the rows out on one sheet."""
    pw, ph = style.panel
    columns = max(len(row.panels) for row in rows)
    heading_h = style.title + 10
    caption_h = _caption_height(rows, style)
    row_h = heading_h + ph + caption_h + style.gap
    title_h = style.title + 16 if title else 0
    width = 2 * style.margin + columns * pw + (columns - 1) * style.gap
    height = 2 * style.margin + title_h + len(rows) * row_h - style.gap
    sheet = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(sheet)
    y = style.margin
    if title:
        draw.text((style.margin, y), title, fill=INK, font=_font(style.title))
        y += title_h
    for row in rows:
        heading_font = _font(style.title)
        draw.text((style.margin, y), row.heading, fill=INK, font=heading_font)
        note_x = style.margin + heading_font.getlength(row.heading) + 12
        note_font = _font(style.text)
        draw.text(
            (note_x, y + (style.title - style.text)),
            row.note,
            fill=ERROR_INK if row.failed else MUTED,
            font=note_font,
        )
        for i, panel in enumerate(row.panels):
            _draw_panel(sheet, panel, (style.margin + i * (pw + style.gap), y + heading_h), style)
        y += row_h
    return sheet


def _options_title(raw: str | None) -> str:
    return f"Before / after with options {raw}" if raw else "Before / after with default options"


def _save_png(sheet: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, "PNG", optimize=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: 0 when every image was processed, 1 otherwise, 2 on bad usage."""
    parser = argparse.ArgumentParser(
        description="Write a before/after contact sheet of the pipeline."
    )
    parser.add_argument("images", nargs="*", type=Path, help="images (default: the samples)")
    parser.add_argument("--out", type=Path, default=Path("contact-sheet.png"), help="PNG to write")
    parser.add_argument("--options", help="processing options as JSON (default: {})")
    parser.add_argument("--docs", type=Path, help=f"also write a one-row example ({DOCS_EXAMPLE})")
    args = parser.parse_args(argv)

    try:
        options = parse_options(args.options)
    except ProcessingError as exc:
        print(f"contact_sheet: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    paths: list[Path] = args.images or default_images()
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print(f"contact_sheet: no such file: {missing[0]}", file=sys.stderr)
        return 2

    rows = [run_one(path, options) for path in paths]
    _save_png(compose(rows, SHEET, _options_title(args.options)), args.out)
    print(f"wrote {args.out} ({len(rows)} rows)")
    for row in rows:
        if row.failed:
            print(f"{row.heading}: {row.panels[-1].caption[-1]}", file=sys.stderr)

    if args.docs is not None:
        example = next((r for r in rows if r.heading == DOCS_EXAMPLE and not r.failed), None)
        if example is None:
            example = run_one(SAMPLES / DOCS_EXAMPLE, options)
        _save_png(compose([example], DOCS, None), args.docs)
        print(f"wrote {args.docs}")
    return 1 if any(row.failed for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
