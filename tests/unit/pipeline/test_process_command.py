"""`python -m daemon process` as a person runs it: outputs, result.json, exit codes, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.unit.pipeline.images import car_cutout, studio_photo

REPO = Path(__file__).resolve().parents[3]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API4AI", "BACKGROUND"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "daemon", "process", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_process_writes_variants_and_result_json(tmp_path: Path) -> None:
    car_cutout((900, 600), (100, 150, 800, 450)).save(tmp_path / "car.png")
    studio_photo((900, 600)).save(tmp_path / "studio.jpg", quality=90)
    out = tmp_path / "out"

    done = _run("car.png", "studio.jpg", "--out", "out", "--remover", "none", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads((out / "car" / "result.json").read_text())
    assert list(result["variants"]) == ["processed", "detail", "grid"]
    for variant in result["variants"].values():
        path = Path(variant["path"])
        assert path.exists() and variant["url"] == path.as_uri()
        assert path.stat().st_size == variant["bytes"]
        with Image.open(path) as image:
            assert image.size == (variant["width"], variant["height"])
            assert image.format == "WEBP"
    metadata = result["metadata"]
    assert metadata["original_size"] == [900, 600]
    assert metadata["background_removed"] is True and metadata["has_shadow"] is True
    assert metadata["provider"] == "none" and metadata["cache_hit"] is False
    assert len(metadata["source_sha256"]) == 64
    assert (out / "studio" / "result.json").exists()


def test_failures_give_one_line_each_and_exit_1(tmp_path: Path) -> None:
    car_cutout((300, 200), (50, 50, 250, 150)).save(tmp_path / "good.png")
    (tmp_path / "notes.jpg").write_text("not a photo")

    done = _run(
        "good.png", "notes.jpg", "missing.png", "--out", str(tmp_path / "out"), cwd=tmp_path
    )

    assert done.returncode == 1
    lines = sorted(line for line in done.stderr.splitlines() if line.strip())
    assert lines == [
        "missing.png: source_not_found: The file does not exist.",
        "notes.jpg: unsupported_image: The file is not an image this service reads; "
        "upload a JPEG, PNG, WebP or HEIC photo.",
    ]
    assert (tmp_path / "out" / "good" / "result.json").exists()
    assert done.stdout == ""


def test_bad_options_are_one_line_naming_the_key(tmp_path: Path) -> None:
    car_cutout((300, 200), (50, 50, 250, 150)).save(tmp_path / "good.png")
    done = _run("good.png", "--out", "out", "--options", '{"padding": 3}', cwd=tmp_path)
    assert done.returncode == 1
    # Refused like every other failure: the file, the contract's code, the sentence.
    assert done.stderr.strip() == "good.png: invalid_options: Unknown option 'padding'."


def test_process_reads_the_studio_and_logo_under_assets(tmp_path: Path) -> None:
    from bench.views import render_logo, render_studio

    assets = tmp_path / "brand"
    (assets / "studio").mkdir(parents=True)
    render_studio(1200, 800, floor=0.8).save(assets / "studio" / "showroom.png")
    render_logo(300).save(assets / "logo.png")
    car_cutout((900, 600), (100, 150, 800, 450)).save(tmp_path / "car.png")
    options = json.dumps(
        {
            "backdrop": {"path": "studio/showroom.png", "floor": 0.8},
            "watermark": {"path": "logo.png"},
            "variants": [{"name": "processed", "max_width": 2560, "format": "avif"}],
        }
    )
    done = _run("car.png", "--out", "out", "--options", options, "--assets", "brand", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out" / "car" / "result.json").read_text())
    processed = result["variants"]["processed"]
    assert processed["format"] == "avif" and processed["path"].endswith("processed.avif")
    with Image.open(processed["path"]) as image:
        assert image.format == "AVIF" and image.size == (1200, 800)  # the studio's canvas
    assert result["metadata"]["options"]["backdrop"]["path"] == "studio/showroom.png"
    timings = result["metadata"]["timings"]
    # Each step's time is rounded to a millisecond on its own: allow that much per step.
    assert result["metadata"]["processing_time"] >= sum(timings.values()) - len(timings)


def test_a_missing_backdrop_fails_each_image_with_invalid_options_naming_it(
    tmp_path: Path,
) -> None:
    car_cutout((300, 200), (50, 50, 250, 150)).save(tmp_path / "car.png")
    options = json.dumps({"backdrop": {"path": "studio/none.png"}})
    done = _run("car.png", "--out", "out", "--options", options, "--assets", ".", cwd=tmp_path)
    assert done.returncode == 1
    line = done.stderr.strip()
    assert line.startswith("car.png: invalid_options: The backdrop 'studio/none.png' does not")
