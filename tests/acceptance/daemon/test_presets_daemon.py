"""Presets, backdrops and logos through the daemon as a process (direct-Postgres backend).

A dealer's look lives in processing_presets; the backdrop and logo in the assets bucket. Two SQL
statements re-render the inventory in a new look at no provider cost (the cutout cache).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from psycopg.types.json import Jsonb

from bench.views import render_logo, render_studio
from tests.acceptance.daemon.harness import OUTPUT_BUCKET, Env, running, studio_jpeg
from tests.doubles.api4ai import Api4aiDouble

API_KEY = "test-api4ai-key"
ASSETS = "processing-assets"
STUDIO = (1200, 800)
SHOWROOM = {
    "backdrop": {"path": "studio/showroom.png", "floor": 0.8},
    "watermark": {"path": "logos/dealer.png", "position": "bottom-right", "width": 0.2},
    "variants": [
        {"name": "processed", "max_width": 2560, "max_height": 2560, "format": "avif"},
        {"name": "grid", "width": 640, "height": 480, "format": "jpeg", "quality": 80},
    ],
}


@pytest.fixture
def api4ai() -> Iterator[Api4aiDouble]:
    with Api4aiDouble(api_key=API_KEY) as double:
        yield double


def _put_asset(env: Env, path: str, image: Image.Image) -> None:
    file = env.storage / ASSETS / path
    file.parent.mkdir(parents=True, exist_ok=True)
    out = io.BytesIO()
    image.save(out, format="PNG")
    file.write_bytes(out.getvalue())


def _preset(env: Env, name: str, options: dict[str, Any]) -> None:
    env.sql(
        "insert into processing_presets (name, options) values (%s, %s)"
        " on conflict (name) do update set options = excluded.options",
        (name, Jsonb(options)),
    )


def _image(env: Env, variant: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO((env.storage / OUTPUT_BUCKET / variant["path"]).read_bytes()))


def test_a_preset_gives_every_photo_the_studio_and_logo_and_a_new_look_costs_no_call(
    env: Env, tmp_path: Path, api4ai: Api4aiDouble
) -> None:
    env.overrides.update(API4AI_URL=api4ai.url, API4AI_API_KEY=API_KEY, BACKGROUND_REMOVER="api4ai")
    _put_asset(env, "studio/showroom.png", render_studio(*STUDIO, floor=0.8))
    _put_asset(env, "logos/dealer.png", render_logo(400))
    _preset(env, "showroom", SHOWROOM)
    ids = [
        env.enqueue(studio_jpeg(seed=i), f"car-{i}.jpg", {"preset": "showroom"}) for i in range(3)
    ]
    own = env.enqueue(
        studio_jpeg(seed=7), "own.jpg", {"preset": "showroom", "watermark": {"width": 0.1}}
    )
    with running(env, tmp_path):
        rows = env.wait_for([*ids, own], {"succeeded", "failed"}, timeout=120)
        assert [r["status"] for r in rows] == ["succeeded"] * 4, [r["error"] for r in rows]
        calls = api4ai.calls
        assert calls == 4
        for row in rows:
            meta = row["result"]["metadata"]
            assert meta["preset"] == "showroom"
            assert meta["options"]["backdrop"]["path"] == "studio/showroom.png"
            processed = row["result"]["variants"]["processed"]
            assert processed["format"] == "avif" and processed["path"].endswith(".avif")
            image = _image(env, processed)
            assert image.format == "AVIF" and image.size == STUDIO  # the studio is the canvas
            assert _image(env, row["result"]["variants"]["grid"]).size == (640, 480)
        widths = {r["id"]: r["result"]["metadata"]["options"]["watermark"]["width"] for r in rows}
        assert widths[rows[-1]["id"]] == 0.1 and widths[rows[0]["id"]] == 0.2  # own keys win

        # A new look for the whole inventory: two statements, no provider call.
        env.sql(
            "update processing_presets set options = options || %s where name = 'showroom'",
            (Jsonb({"backdrop": None, "background": "#202020"}),),
        )
        env.sql(
            "update processing_jobs set status = 'queued' where options->>'preset' = 'showroom'"
        )
        again = env.wait_for([*ids, own], {"succeeded", "failed"}, timeout=120)
        again = [r for r in again if r["revision"] == 1]
        assert len(again) == 4 and all(r["status"] == "succeeded" for r in again)
    assert api4ai.calls == calls  # every cutout came from the cache
    for row in again:
        meta = row["result"]["metadata"]
        assert meta["cache_hit"] is True and meta["options"]["background"] == "#202020"
        assert meta["options"]["backdrop"] is None


def test_an_unknown_preset_or_a_missing_backdrop_fails_at_once_naming_it(
    env: Env, tmp_path: Path
) -> None:
    _preset(env, "studio", {"backdrop": {"path": "studio/gone.jpg"}})
    unknown = env.enqueue(studio_jpeg(), "a.jpg", {"preset": "nosuch"})
    missing = env.enqueue(studio_jpeg(), "b.jpg", {"preset": "studio"})
    with running(env, tmp_path) as daemon:
        rows = env.wait_for([unknown, missing], {"failed"}, timeout=60)
        assert daemon.wait_healthy()["status"] == "healthy"
    errors = {str(r["id"]): r["error"] for r in rows}
    assert errors[unknown]["code"] == "invalid_options"
    assert "nosuch" in errors[unknown]["message"]
    assert errors[missing]["code"] == "invalid_options"
    assert "studio/gone.jpg" in errors[missing]["message"]
    assert all(r["attempts"] == 1 and not r["error"]["retryable"] for r in rows)
