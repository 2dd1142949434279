"""The plan's processing tests (shared/seed/implementation-plan.md), imports adjusted.

The fixtures build the same 2560x1440 images with paste instead of putpixel loops. The plan's
end-to-end test ran against API4.ai; here the remover is a stand-in that answers with the mask the
provider would return, so the test checks our pipeline, not the network.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from daemon.domain.options import ProcessingOptions
from daemon.lifecycle.processing import process_source
from daemon.pipeline import Limits, add_drop_shadow, auto_crop_with_padding
from daemon.pipeline.removal import Removal, RemovalPlan, Upload


class TestImageProcessing:
    """Core image processing tests to write before implementation"""

    @pytest.fixture
    def sample_car_image(self) -> Image.Image:
        """Create a test image with car-like dimensions"""
        img = Image.new("RGBA", (2560, 1440), (255, 255, 255, 255))
        img.paste((50, 50, 50, 255), (800, 400, 1760, 1040))
        return img

    @pytest.fixture
    def transparent_bg_image(self) -> Image.Image:
        """Image with transparent background (simulating API4.ai output)"""
        img = Image.new("RGBA", (2560, 1440), (0, 0, 0, 0))
        img.paste((50, 50, 50, 255), (800, 400, 1760, 1040))
        return img

    def test_auto_crop_removes_transparent_padding(self, transparent_bg_image: Image.Image) -> None:
        cropped = auto_crop_with_padding(transparent_bg_image)
        assert cropped.width < 1200
        assert cropped.height < 900
        assert cropped.width > 960
        assert cropped.height > 640

    def test_auto_crop_preserves_content(self, transparent_bg_image: Image.Image) -> None:
        cropped = auto_crop_with_padding(transparent_bg_image)
        cropped_array = np.array(cropped)
        non_transparent = np.sum(cropped_array[:, :, 3] > 0)
        expected_pixels = 960 * 640
        assert non_transparent >= expected_pixels

    def test_drop_shadow_increases_canvas_size(self, transparent_bg_image: Image.Image) -> None:
        with_shadow = add_drop_shadow(transparent_bg_image)
        assert with_shadow.width > transparent_bg_image.width
        assert with_shadow.height > transparent_bg_image.height

    def test_drop_shadow_preserves_original(self, transparent_bg_image: Image.Image) -> None:
        with_shadow = add_drop_shadow(transparent_bg_image)
        center_x = with_shadow.width // 2
        center_y = with_shadow.height // 2
        pixel = with_shadow.getpixel((center_x, center_y))
        assert isinstance(pixel, tuple)
        assert pixel[3] == 255

    @pytest.mark.anyio
    async def test_complete_pipeline(self, sample_car_image: Image.Image) -> None:
        buffer = io.BytesIO()
        sample_car_image.save(buffer, format="PNG")

        result = await process_source(
            buffer.getvalue(), ProcessingOptions(), _MaskRemover(), limits=Limits()
        )

        assert {"processed", "grid", "detail"} <= set(result.variants)
        assert result.metadata["original_size"] == [2560, 1440]
        assert result.metadata["final_size"][0] < 2560
        assert result.metadata["has_shadow"] is True


class _MaskRemover:
    """Answers like API4.ai's fg-mask mode: white where the dark 'car' is."""

    provider = "stand-in"

    def plan(self, options: ProcessingOptions) -> RemovalPlan | None:
        return RemovalPlan(provider=self.provider, mode="fg-mask", max_upload_side=1024)

    async def remove(self, upload: Upload, plan: RemovalPlan) -> Removal:
        image = Image.open(io.BytesIO(upload.data)).convert("L")
        mask = image.point(lambda v: 255 if v < 128 else 0)
        out = io.BytesIO()
        mask.save(out, format="PNG")
        return Removal(kind="mask", png=out.getvalue(), provider=self.provider, mode=plan.mode)

    async def aclose(self) -> None:
        return None
