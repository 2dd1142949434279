"""The `result` column's shape (CONTRACT.md section 4), as models: the single source for the docs
and for checking what the daemon writes (`daemon.lifecycle.outputs.build_result` makes it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class VariantResult(BaseModel):
    """One uploaded output."""

    model_config = ConfigDict(extra="forbid")

    bucket: str | None = Field(description="Storage bucket (null for `process` on local files).")
    path: str = Field(description="`<job id>/r<revision>/<variant>.<ext>` inside the bucket.")
    url: str = Field(
        description="Public URL; new at every revision, so CDNs never serve a stale copy."
    )
    width: int = Field(description="Pixels.")
    height: int = Field(description="Pixels.")
    format: str = Field(description="webp, avif, png or jpeg.")
    bytes: int = Field(description="Size of the encoded file.")


class ResultMetadata(BaseModel):
    """How the photo was processed."""

    model_config = ConfigDict(extra="allow")

    original_size: list[int] = Field(description="[width, height] of the upright original.")
    final_size: list[int] = Field(description="[width, height] of the first variant (the master).")
    crop_box: list[int] = Field(
        description="[left, top, right, bottom] of the kept region, in original pixels."
    )
    background_removed: bool = Field(description="Whether the background was cut away.")
    has_shadow: bool = Field(description="Whether a shadow was added.")
    cache_hit: bool = Field(description="The background removal came from the cache (no call).")
    provider: str = Field(description='Background remover: "api4ai" or "none".')
    source_sha256: str = Field(description="SHA-256 of the original's bytes (the cache key).")
    revision: int = Field(description="The job's revision that produced this result.")
    worker: str = Field(description="Id of the worker process that produced it.")
    processing_time: int = Field(
        description="Milliseconds from the start of the download to the end of the upload (the "
        "pipeline's whole run, the same in `run` and `process`)."
    )
    timings: dict[str, int] = Field(
        description="Milliseconds per pipeline step, by its name: download, decode, "
        "remove_background, crop, clean_edges, shadow, compose, variants, watermark, encode, "
        "upload, ..."
    )
    preset: str | None = Field(
        default=None, description="The preset the options named (null: none)."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="The options as applied: the preset's, the job's own over them, defaults "
        "filled in.",
    )


class JobResult(BaseModel):
    """`processing_jobs.result` after a success."""

    model_config = ConfigDict(extra="forbid")

    variants: dict[str, VariantResult] = Field(description="By variant name, in option order.")
    metadata: ResultMetadata
