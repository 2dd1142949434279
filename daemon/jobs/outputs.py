"""Where outputs go and what `result` says about them (CONTRACT.md section 4)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from daemon.pipeline import Rendered


def output_path(job_id: UUID, revision: int, variant: str, extension: str) -> str:
    """`<job id>/r<revision>/<variant>.<ext>`: a reprocessed photo gets new URLs."""
    return f"{job_id}/r{revision}/{variant}.{extension}"


def old_revision_paths(job_id: UUID, revision: int, existing: list[str]) -> list[str]:
    """Outputs of this job that belong to any other revision than `revision`."""
    keep = f"{job_id}/r{revision}/"
    mine = f"{job_id}/"
    return [p for p in existing if p.startswith(mine) and not p.startswith(keep)]


def build_result(
    rendered: Rendered,
    *,
    locations: Mapping[str, tuple[str, str]],
    public_url: Callable[[str, str], str],
    extra_timings: Mapping[str, int],
    cache_hit: bool,
    source_sha256: str,
    revision: int,
    worker: str,
    processing_time: int,
) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for name, variant in rendered.variants.items():
        bucket, path = locations[name]
        variants[name] = {
            "bucket": bucket,
            "path": path,
            "url": public_url(bucket, path),
            "width": variant.width,
            "height": variant.height,
            "format": variant.format,
            "bytes": len(variant.data),
        }
    metadata = dict(rendered.metadata)
    timings = {**extra_timings, **dict(metadata.get("timings") or {})}
    metadata.update(
        cache_hit=cache_hit,
        source_sha256=source_sha256,
        revision=revision,
        worker=worker,
        processing_time=processing_time,
        timings=timings,
    )
    metadata.setdefault("provider", "none")
    return {"variants": variants, "metadata": metadata}
