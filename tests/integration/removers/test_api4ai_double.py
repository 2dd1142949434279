"""Api4aiRemover against the API4.ai double over real loopback HTTP, and the double itself."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from daemon.adapters.api4ai import Api4aiRemover
from daemon.domain.errors import BackgroundRemovalFailed, ProviderRateLimited, ProviderUnavailable
from daemon.pipeline.removal import RemovalPlan, Upload
from tests.doubles.api4ai import Api4aiDouble, Canned, estimate_mask
from tests.integration.removers.support import API_KEY, FakeTime

pytestmark = pytest.mark.anyio

MASK_PLAN = RemovalPlan(provider="api4ai", mode="fg-mask")
PLATE_PLAN = RemovalPlan(provider="api4ai", mode="fg-image-hideclp")
MakeRemover = Callable[..., Api4aiRemover]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def double() -> Iterator[Api4aiDouble]:
    with Api4aiDouble(api_key=API_KEY) as running:
        yield running


def studio_photo() -> Upload:
    """A grey backdrop with a red 'vehicle' at (20, 10)-(60, 30)."""
    image = Image.new("RGB", (80, 40), (190, 190, 195))
    image.paste((200, 30, 30), (20, 10, 60, 30))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return Upload(out.getvalue(), "image/png")


async def test_the_mask_marks_what_differs_from_the_backdrop(
    double: Api4aiDouble, make_remover: MakeRemover
) -> None:
    remover = make_remover(url=double.url)
    removal = await remover.remove(studio_photo(), MASK_PLAN)
    await remover.aclose()

    mask = Image.open(io.BytesIO(removal.png))
    assert removal.kind == "mask"
    assert (mask.mode, mask.size) == ("L", (80, 40))
    assert mask.getbbox() == (20, 10, 60, 30)
    assert mask.getpixel((40, 20)) == 255
    assert mask.getpixel((5, 5)) == 0
    assert double.last_mode == "fg-mask"
    assert double.last_headers["x-api-key"] == API_KEY
    assert double.calls == 1


async def test_the_plate_mode_gives_an_rgba_cutout(
    double: Api4aiDouble, make_remover: MakeRemover
) -> None:
    remover = make_remover(url=double.url)
    removal = await remover.remove(studio_photo(), PLATE_PLAN)
    await remover.aclose()

    cutout = Image.open(io.BytesIO(removal.png))
    assert removal.kind == "cutout"
    assert cutout.mode == "RGBA"
    assert cutout.getpixel((40, 20)) == (200, 30, 30, 255)
    assert cutout.getpixel((5, 5)) == (190, 190, 195, 0)
    assert double.last_mode == "fg-image-hideclp"


async def test_scripted_trouble_is_retried_then_answered(
    double: Api4aiDouble, make_remover: MakeRemover, fake_time: FakeTime
) -> None:
    double.enqueue(Canned.rate_limited("3"), Canned.html(502), Canned.server_error(500))
    remover = make_remover(url=double.url)
    removal = await remover.remove(studio_photo(), MASK_PLAN)
    await remover.aclose()
    assert removal.kind == "mask"
    assert double.calls == 4
    assert fake_time.sleeps[0] == 3.0
    assert len(fake_time.sleeps) == 3


async def test_a_hang_past_the_client_timeout_is_retried(
    double: Api4aiDouble, make_remover: MakeRemover
) -> None:
    double.enqueue(Canned.hang(10))
    remover = make_remover(url=double.url, timeout_seconds=0.3)
    removal = await remover.remove(studio_photo(), MASK_PLAN)
    await remover.aclose()
    assert removal.kind == "mask"
    assert double.calls == 2


async def test_status_failure_and_malformed_answers(
    double: Api4aiDouble, make_remover: MakeRemover
) -> None:
    double.enqueue(Canned.failure("Car is not found."), Canned.malformed())
    remover = make_remover(url=double.url, max_attempts=1)
    with pytest.raises(BackgroundRemovalFailed, match="Car is not found"):
        await remover.remove(studio_photo(), MASK_PLAN)
    with pytest.raises(ProviderUnavailable, match="not the expected JSON"):
        await remover.remove(studio_photo(), MASK_PLAN)
    await remover.aclose()


async def test_rate_limited_until_the_budget_is_spent(
    double: Api4aiDouble, make_remover: MakeRemover
) -> None:
    double.enqueue(*[Canned.rate_limited("20")] * 5)
    remover = make_remover(url=double.url, retry_budget_seconds=45)
    with pytest.raises(ProviderRateLimited) as caught:
        await remover.remove(studio_photo(), MASK_PLAN)
    await remover.aclose()
    assert double.calls == 3
    assert caught.value.retry_after == 20.0


async def test_a_wrong_key_is_refused(double: Api4aiDouble, make_remover: MakeRemover) -> None:
    remover = make_remover(url=double.url, api_key="not-the-key")
    with pytest.raises(BackgroundRemovalFailed, match="HTTP 403"):
        await remover.remove(studio_photo(), MASK_PLAN)
    await remover.aclose()
    assert double.calls == 1


def test_the_double_answers_like_the_api(double: Api4aiDouble) -> None:
    with httpx.Client() as client:
        missing = client.post(double.url, params={"mode": "fg-mask"}, files={"image": b"x"})
        wrong_mode = client.post(
            double.url,
            params={"mode": "fg-nothing"},
            headers={"X-API-KEY": API_KEY},
            files={"image": studio_photo().data},
        )
        undecodable = client.post(
            double.url,
            params={"mode": "fg-image"},
            headers={"X-API-KEY": API_KEY},
            files={"image": b"not an image"},
        )
        ok = client.post(
            double.url,
            params={"mode": "fg-image"},
            headers={"X-API-KEY": API_KEY},
            files={"image": ("car.png", studio_photo().data, "image/png")},
        )
    assert missing.status_code == 401
    assert wrong_mode.status_code == 400
    assert undecodable.json()["results"][0]["status"]["code"] == "failure"
    result = ok.json()["results"][0]
    assert result["status"]["code"] == "ok"
    assert (result["width"], result["height"]) == (80, 40)
    assert result["entities"][0]["format"] == "PNG"
    assert result["entities"][1]["objects"][0]["box"] == [0.25, 0.25, 0.5, 0.5]


def test_the_double_runs_as_a_command() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.api4ai", "--port", "0", "--latency", "0.05"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        base = url.removesuffix("/img-bg-removal/v1/cars/results")
        with httpx.Client(timeout=10) as client:
            script = client.post(f"{base}/_double/script", json=[{"kind": "failure"}])
            photo = {"image": studio_photo().data}
            first = client.post(url, params={"mode": "fg-mask"}, files=photo)
            second = client.post(url, params={"mode": "fg-mask"}, files=photo)
            stats = client.get(f"{base}/_double/stats").json()
        assert script.status_code == 204
        assert first.json()["results"][0]["status"]["code"] == "failure"
        assert second.json()["results"][0]["status"]["code"] == "ok"
        assert stats == {"calls": 2, "last_mode": "fg-mask", "modes": ["fg-mask", "fg-mask"]}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "served 2 calls" in stderr


def test_the_mask_of_a_studio_sample_matches_its_reference_mask() -> None:
    samples = ROOT / "daemon" / "samples"
    photo = Image.open(samples / "studio-hatchback.jpg").convert("RGB")
    reference = Image.open(samples / "studio-hatchback.mask.png").convert("L")
    mask = estimate_mask(photo)
    ours = np.asarray(mask) > 127
    theirs = np.asarray(reference.resize(mask.size)) > 127
    assert (ours & theirs).sum() / (ours | theirs).sum() > 0.85
