"""The README's contact sheet of what a dealer publishes: `python bench/listing_sheet.py OUT.png`.

Row 1: one synthetic car in side, front 3/4 and rear 3/4 views, cut out with the contact shadow
(on a checkerboard, so the transparency shows). Row 2: the same views on a studio backdrop with
the dealer's logo. Row 3: a listing of four photos under one preset, as the grid variant
renders them (every photo lines up). All rendered here, free of rights.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.views import render_logo, render_studio, render_view
from daemon.pipeline import Asset, Assets, merge_options, parse_options, process_image

TILE = (520, 346)
PRESET = {
    "backdrop": {"path": "studio.jpg", "floor": 0.84},
    "watermark": {"path": "logo.png", "position": "bottom-right", "width": 0.18},
    "frame": {"subject_width": 0.78},
}


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _checker(size: tuple[int, int], step: int = 16) -> Image.Image:
    board = Image.new("RGB", size, (236, 236, 236))
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], step):
        for x in range((y // step % 2) * step, size[0], 2 * step):
            draw.rectangle((x, y, x + step - 1, y + step - 1), fill=(252, 252, 252))
    return board


def _variant(data: bytes, options: dict[str, object], assets: Assets, name: str) -> Image.Image:
    result = process_image(data, parse_options(options), assets=assets)
    return Image.open(io.BytesIO(result.variants[name].data)).convert("RGBA")


def main(out: Path) -> None:
    studio = Asset("studio.jpg", render_studio(1920, 1280, floor=0.84))
    logo = Asset("logo.png", render_logo(600))
    assets = Assets(backdrop=studio, logo=logo)
    rows: list[list[Image.Image]] = [[], [], []]
    for view in ("side", "front34", "rear34"):
        data = _png(render_view(2400, 1600, view=view, kind="suv", colour=(148, 20, 26)).cutout)
        cut = _variant(data, {}, assets, "detail")
        cut.thumbnail(TILE)
        tile = _checker(cut.size)
        tile.paste(cut, (0, 0), cut)
        rows[0].append(tile)
        shot = _variant(data, merge_options(PRESET, {}), assets, "detail").convert("RGB")
        shot.thumbnail(TILE)
        rows[1].append(shot)
    for view, kind in (
        ("front34", "sedan"),
        ("side", "hatchback"),
        ("rear34", "sedan"),
        ("front", "suv"),
    ):
        data = _png(render_view(1800, 1200, view=view, kind=kind, colour=(30, 80, 60)).cutout)
        rows[2].append(_variant(data, merge_options(PRESET, {}), assets, "grid").convert("RGB"))
    gap = 12
    width = max(sum(t.width for t in row) + gap * (len(row) + 1) for row in rows)
    height = sum(max(t.height for t in row) for row in rows) + gap * (len(rows) + 1)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    y = gap
    for row in rows:
        x = gap
        for tile in row:
            scale = min(1.0, (width - gap * (len(row) + 1)) / len(row) / tile.width)
            if scale < 1.0:
                tile = tile.resize((round(tile.width * scale), round(tile.height * scale)))
            sheet.paste(tile, (x, y))
            x += tile.width + gap
        y += max(t.height for t in row) + gap
    sheet = sheet.crop((0, 0, width, y))
    sheet.save(out, optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/listing.png"))
