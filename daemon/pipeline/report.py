"""What the pipeline says about a photo: the typed source of `result.metadata` (section 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daemon.pipeline.layout import Layout
    from daemon.pipeline.steps import Work


@dataclass(frozen=True)
class Report:
    """Sizes, crop box, flags, timings and the options as applied, for one processed photo."""

    original_size: tuple[int, int]
    final_size: tuple[int, int]
    crop_box: tuple[int, int, int, int]
    background_removed: bool
    has_shadow: bool
    provider: str
    cache_hit: bool
    timings: dict[str, int]
    processing_time: int  # ms, from the first step's start to the last one's end
    options: dict[str, Any]
    preset: str | None

    @classmethod
    def of(cls, work: Work, processing_time: int, preset: str | None = None) -> Report:
        layout = work.need("layout")
        master = next(iter(work.variants.values()))
        removal = work.removal
        return cls(
            original_size=work.need("original_size"),
            final_size=(master.width, master.height),
            crop_box=crop_box(layout, work.need("canvas_size"), work.shift, work.decoded_scale),
            background_removed=work.transparent,
            has_shadow=work.has_shadow,
            provider=removal.provider if removal is not None else "none",
            cache_hit=work.cache_hit,
            timings=dict(work.timings),
            processing_time=processing_time,
            options=work.options.model_dump(mode="json"),
            preset=preset if preset is not None else work.options.preset,
        )

    def metadata(self) -> dict[str, Any]:
        """The pipeline's part of `result.metadata`, JSON-ready."""
        return {
            "original_size": list(self.original_size),
            "final_size": list(self.final_size),
            "crop_box": list(self.crop_box),
            "background_removed": self.background_removed,
            "has_shadow": self.has_shadow,
            "provider": self.provider,
            "cache_hit": self.cache_hit,
            "timings": dict(self.timings),
            "processing_time": self.processing_time,
            "preset": self.preset,
            "options": self.options,
        }


def crop_box(
    layout: Layout,
    canvas_size: tuple[int, int],
    shift: tuple[int, int],
    scale: tuple[float, float],
) -> tuple[int, int, int, int]:
    """The canvas's window in upright-original pixels (may reach beyond the image)."""
    k = layout.scale
    # The window itself, grown by whatever a drop shadow added around it.
    extra_w = (canvas_size[0] - layout.canvas_size[0]) / k
    extra_h = (canvas_size[1] - layout.canvas_size[1]) / k
    left = layout.origin[0] - shift[0] / k
    top = layout.origin[1] - shift[1] / k
    right = left + layout.size[0] + extra_w
    bottom = top + layout.size[1] + extra_h
    sx, sy = scale
    return (round(left * sx), round(top * sy), round(right * sx), round(bottom * sy))
