"""Where outputs go (CONTRACT.md section 4): one folder per job and revision."""

from __future__ import annotations

from uuid import UUID


def output_path(job_id: UUID, revision: int, variant: str, extension: str) -> str:
    """`<job id>/r<revision>/<variant>.<ext>`: a reprocessed photo gets new URLs."""
    return f"{job_id}/r{revision}/{variant}.{extension}"


def old_revision_paths(job_id: UUID, revision: int, existing: list[str]) -> list[str]:
    """Outputs of this job that belong to any other revision than `revision`."""
    keep = f"{job_id}/r{revision}/"
    mine = f"{job_id}/"
    return [p for p in existing if p.startswith(mine) and not p.startswith(keep)]
