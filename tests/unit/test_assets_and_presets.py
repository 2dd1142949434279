"""Assets fetched and decoded once per process while unchanged; presets merged and resolved."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from daemon.adapters.memory.store import MemoryStore
from daemon.domain.errors import ImageTooLarge, InvalidOptions
from daemon.lifecycle.assets import AssetCache, StoreAssets
from daemon.lifecycle.presets import resolve_options
from daemon.pipeline import Limits, merge_options, parse_options

BUCKET = "processing-assets"
pytestmark = pytest.mark.anyio


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


async def _store(**objects: bytes) -> MemoryStore:
    store = MemoryStore()
    for path, data in objects.items():
        await store.put(BUCKET, path.replace("__", "/"), data, content_type="image/png")
    return store


async def test_a_backdrop_is_fetched_and_decoded_once_while_unchanged() -> None:
    store = await _store(studio__a_png=_png((64, 40), (200, 200, 200)))
    cache = AssetCache(StoreAssets(store, BUCKET), Limits())
    options = parse_options({"backdrop": {"path": "studio/a_png"}})
    first = await cache.for_options(options)
    for _ in range(5):
        again = await cache.for_options(options)
        assert again.backdrop is first.backdrop
    assert cache.fetches == 1
    # The dealer uploads a new studio under the same path: the next job gets it.
    await store.put(BUCKET, "studio/a_png", _png((64, 40), (10, 10, 10)), content_type="image/png")
    fresh = await cache.for_options(options)
    assert cache.fetches == 2
    assert fresh.backdrop is not None and fresh.backdrop.image.getpixel((0, 0)) == (10, 10, 10)


async def test_the_cache_is_bounded_by_decoded_pixels() -> None:
    store = await _store(a=_png((100, 100), (1, 1, 1)), b=_png((100, 100), (2, 2, 2)))
    cache = AssetCache(StoreAssets(store, BUCKET), Limits(), capacity_pixels=15_000)
    await cache.get("a", "backdrop")
    await cache.get("b", "backdrop")
    await cache.get("b", "backdrop")
    assert cache.fetches == 2
    await cache.get("a", "backdrop")  # a was dropped to make room for b
    assert cache.fetches == 3


async def test_missing_broken_and_huge_assets_name_their_path() -> None:
    store = await _store(notes=b"plain text", huge=_png((5000, 5000), (0, 0, 0)))
    cache = AssetCache(StoreAssets(store, BUCKET), Limits(max_pixels=10_000_000))
    with pytest.raises(InvalidOptions, match=r"The backdrop 'studio/none\.jpg' does not exist"):
        await cache.get("studio/none.jpg", "backdrop")
    with pytest.raises(InvalidOptions, match="The logo 'notes' is not"):
        await cache.get("notes", "logo")
    with pytest.raises(ImageTooLarge, match="'huge'"):
        await cache.get("huge", "backdrop")


def test_presets_merge_object_by_object_and_the_job_wins() -> None:
    preset = {
        "shadow": {"style": "contact", "opacity": 0.7},
        "background": "#ffffff",
        "variants": [{"name": "a", "max_width": 100}],
        "backdrop": {"path": "studio/x.jpg"},
    }
    own = {
        "shadow": {"opacity": 0.3},
        "variants": [{"name": "b", "max_width": 50}],
        "backdrop": None,
    }
    assert merge_options(preset, own) == {
        "shadow": {"style": "contact", "opacity": 0.3},  # key by key
        "background": "#ffffff",
        "variants": [{"name": "b", "max_width": 50}],  # a list is replaced whole
        "backdrop": None,  # the job takes the studio away
    }


class Presets:
    def __init__(self, **rows: dict[str, Any]) -> None:
        self.rows = rows
        self.asked: list[str] = []

    async def preset(self, name: str) -> dict[str, Any] | None:
        self.asked.append(name)
        return self.rows.get(name)


async def test_a_job_resolves_its_preset_and_records_it() -> None:
    presets = Presets(showroom={"background": "#101010", "padding_percent": 0.2})
    options = await resolve_options({"preset": "showroom", "padding_percent": 0.1}, presets)
    assert options.preset == "showroom"
    assert options.background == "#101010"
    assert options.padding_percent == 0.1
    assert presets.asked == ["showroom"]


async def test_no_preset_asks_no_database() -> None:
    presets = Presets()
    options = await resolve_options({"padding_percent": 0.1}, presets)
    assert options.preset is None and presets.asked == []


@pytest.mark.parametrize(
    ("raw", "rows", "message"),
    [
        ({"preset": "gone"}, {}, "The preset 'gone' does not exist."),
        ({"preset": "bad"}, {"bad": {"padding": 1}}, "The preset 'bad' gives bad options"),
        ({"preset": "Show Room"}, {}, "Option 'preset' is invalid"),
    ],
)
async def test_a_preset_that_cannot_apply_is_invalid_options_naming_it(
    raw: dict[str, Any], rows: dict[str, dict[str, Any]], message: str
) -> None:
    with pytest.raises(InvalidOptions, match=message) as caught:
        await resolve_options(raw, Presets(**rows))
    assert caught.value.code == "invalid_options" and not caught.value.retryable
