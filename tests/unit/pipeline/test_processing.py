"""process_source: decode, the remover's call, render; stages, timings and the removal's effect."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image

from daemon.domain.errors import ProviderUnavailable
from daemon.domain.options import ProcessingOptions, parse_options
from daemon.lifecycle.processing import process_source
from daemon.pipeline import Limits, content_box
from daemon.pipeline.removal import NoRemover, Removal, RemovalPlan, Upload
from tests.unit.pipeline.images import car_cutout, car_mask, encode, studio_photo

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    """A remover that answers with a prepared PNG and remembers what it was sent."""

    provider = "fake"

    def __init__(self, kind: str, answer: Image.Image, max_upload_side: int | None = 600) -> None:
        self.kind = kind
        self.answer = encode(answer)
        self.max_upload_side = max_upload_side
        self.uploads: list[bytes] = []

    def plan(self, options: ProcessingOptions) -> RemovalPlan | None:
        return RemovalPlan(self.provider, f"fg-{self.kind}", self.max_upload_side)

    async def remove(self, upload: Upload, plan: RemovalPlan) -> Removal:
        self.uploads.append(upload)
        return Removal(kind=self.kind, png=self.answer, provider=self.provider, mode=plan.mode)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        return None


def _png(result_bytes: bytes) -> Image.Image:
    return Image.open(io.BytesIO(result_bytes))


PNG_MASTER = parse_options(
    {"variants": [{"name": "processed", "max_width": 2000, "max_height": 2000, "format": "png"}]}
)
# Without a shadow the crop is exactly the car plus padding (a shadow may grow the canvas).
NO_SHADOW = PNG_MASTER.model_copy(update={"add_shadow": False})


async def test_a_mask_from_a_downscaled_upload_cuts_out_the_full_size_original() -> None:
    photo = studio_photo((1200, 800))
    remover = Recorder("mask", car_mask((1200, 800)).resize((600, 400)))
    stages: list[str] = []

    result = await process_source(
        encode(photo, "JPEG", quality=95),
        NO_SHADOW,
        remover,
        limits=Limits(),
        on_stage=stages.append,
    )

    # No "shadowing": the options ask for none, so that step does not run.
    assert stages == ["downloading", "removing_background", "cropping", "rendering", "uploading"]
    assert result.metadata["has_shadow"] is False
    assert remover.uploads[0].content_type == "image/jpeg"
    upload = _png(remover.uploads[0].data)
    assert upload.format == "JPEG" and max(upload.size) == 600  # opaque: JPEG, scaled down
    assert result.metadata["provider"] == "fake"
    assert result.metadata["background_removed"] is True
    assert result.metadata["timings"]["remove_background"] >= 0
    master = _png(result.variants["processed"].data)
    assert master.mode == "RGBA"
    # Cropped to the car (800x350 at 200,250) plus 5 % padding, at full resolution; the mask was
    # scaled up 2x, so its edge is a few pixels soft.
    assert abs(master.width - (800 + 2 * 40)) <= 8
    left, top, _, _ = result.metadata["crop_box"]
    assert abs(left - 160) <= 4 and abs(top - 230) <= 4


async def test_a_full_size_cutout_is_used_as_it_is() -> None:
    cutout = car_cutout((1200, 800))
    remover = Recorder("cutout", cutout, max_upload_side=None)
    result = await process_source(
        encode(studio_photo((1200, 800)), "PNG"), NO_SHADOW, remover, limits=Limits()
    )
    master = _png(result.variants["processed"].data).convert("RGBA")
    box = content_box(master)
    assert box is not None and abs((box[2] - box[0]) - 800) <= 2
    # The car's body colour comes through.
    x = (box[0] + box[2]) // 2
    pixel = master.getpixel((x, box[1] + (box[3] - box[1]) // 2))
    assert isinstance(pixel, tuple) and pixel[0] > 150 and pixel[3] == 255


async def test_no_call_when_background_removal_is_off() -> None:
    remover = Recorder("mask", car_mask())
    options = parse_options(
        {"remove_background": False, **PNG_MASTER.model_dump(include={"variants"})}
    )
    result = await process_source(encode(studio_photo()), options, remover, limits=Limits())
    assert remover.uploads == []
    assert result.metadata["provider"] == "none"
    assert result.metadata["background_removed"] is False
    assert result.metadata["has_shadow"] is False  # an opaque photo has no ground to shade


async def test_none_remover_keeps_an_existing_cutout() -> None:
    result = await process_source(encode(car_cutout()), PNG_MASTER, NoRemover(), limits=Limits())
    assert result.metadata["background_removed"] is True
    assert result.metadata["provider"] == "none"
    assert set(result.metadata["timings"]) >= {"decode", "crop", "shadow", "variants", "encode"}
    # The whole run's wall time: every step's time, and what lay between them.
    timings = result.metadata["timings"]
    # Each step's time is rounded to a millisecond on its own: allow that much per step.
    assert result.metadata["processing_time"] >= sum(timings.values()) - len(timings)


async def test_a_remover_error_passes_through_unchanged() -> None:
    class Down(Recorder):
        async def remove(self, upload: Upload, plan: RemovalPlan) -> Removal:
            raise ProviderUnavailable("The provider did not answer; it will be retried.")

    with pytest.raises(ProviderUnavailable):
        await process_source(
            encode(studio_photo()), PNG_MASTER, Down("mask", car_mask()), limits=Limits()
        )


async def test_cpu_steps_run_through_the_given_runner() -> None:
    calls: list[tuple[str, bool]] = []

    async def run_stretch(func, *, early):  # type: ignore[no-untyped-def]
        calls.append((getattr(func, "func", func).__name__, early))
        func()

    await process_source(
        encode(studio_photo()),
        PNG_MASTER,
        Recorder("mask", car_mask()),
        limits=Limits(),
        run_stretch=run_stretch,
    )
    # The pure steps before the remover's call share one trip to a thread; those after it
    # the other. The first leads to more I/O and comes back: it is the early one.
    assert calls == [("run_steps", True), ("run_steps", False)]


def test_an_oversized_provider_answer_is_refused_before_decoding() -> None:
    from daemon.domain.errors import BackgroundRemovalFailed
    from daemon.pipeline import apply_removal
    from daemon.pipeline.removal import Removal

    # A PNG header that claims 20000 x 20000 pixels: refused from the header alone.
    header = io.BytesIO()
    Image.new("L", (1, 1)).save(header, "PNG")
    png = bytearray(header.getvalue())
    png[16:24] = (20000).to_bytes(4, "big") * 2
    png[29:33] = zlib.crc32(bytes(png[12:29])).to_bytes(4, "big")  # IHDR's checksum
    removal = Removal(kind="mask", png=bytes(png), provider="api4ai", mode="fg-mask")
    with pytest.raises(BackgroundRemovalFailed, match="20000x20000"):
        apply_removal(Image.new("RGB", (64, 48)), removal)
