"""Where outputs go and what `result` says of them (CONTRACT.md section 4): one folder per job
and revision, and `build_result`, the one place that makes the result JSON for both `run`
(Storage paths and public URLs) and `process` (local files)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Location:
    """Where one variant was stored."""

    bucket: str | None  # None for a local file
    path: str
    url: str


def build_result(
    rendered: Rendered,
    locations: Mapping[str, Location],
    *,
    source_sha256: str,
    revision: int,
    worker: str,
) -> dict[str, Any]:
    """The `result` JSON: the variants where they were stored, and the report's metadata."""
    variants: dict[str, Any] = {}
    for name, variant in rendered.variants.items():
        where = locations[name]
        variants[name] = {
            "bucket": where.bucket,
            "path": where.path,
            "url": where.url,
            "width": variant.width,
            "height": variant.height,
            "format": variant.format,
            "bytes": len(variant.data),
        }
    metadata = rendered.report.metadata()
    metadata.update(source_sha256=source_sha256, revision=revision, worker=worker)
    return {"variants": variants, "metadata": metadata}
