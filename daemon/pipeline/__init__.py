"""The pure image pipeline: bytes and options in; encoded variants and a report out; no I/O.

Its table of contents is `steps.PIPELINE`:

    download -> decode -> prepare_upload -> remove_background -> apply_removal -> crop
             -> shadow -> compose -> variants -> watermark -> encode -> upload

`runner.run_steps` runs the pure steps; the three I/O steps (download, remove_background,
upload) are performed by the caller through its ports (`daemon.lifecycle.processing.run_pipeline`).
`process_image` runs the pure steps on bytes in memory.
"""

from __future__ import annotations

from daemon.domain.options import ProcessingOptions, merge_options, parse_options
from daemon.pipeline.assets import Asset, Assets, decode_asset
from daemon.pipeline.crop import auto_crop_with_padding, content_box
from daemon.pipeline.cutout import apply_removal, removal_upload
from daemon.pipeline.decode import Source, decode_source
from daemon.pipeline.guard import ImageInfo, Limits, probe
from daemon.pipeline.removal import Removal, RemovalPlan, Upload
from daemon.pipeline.report import Report
from daemon.pipeline.runner import Abandoned, Hooks, NoHooks, Rendered, process_image, run_steps
from daemon.pipeline.shadow import add_drop_shadow
from daemon.pipeline.steps import PIPELINE, EncodedVariant, Step, Work

__all__ = [
    "PIPELINE",
    "Abandoned",
    "Asset",
    "Assets",
    "EncodedVariant",
    "Hooks",
    "ImageInfo",
    "Limits",
    "NoHooks",
    "ProcessingOptions",
    "Removal",
    "RemovalPlan",
    "Rendered",
    "Report",
    "Source",
    "Step",
    "Upload",
    "Work",
    "add_drop_shadow",
    "apply_removal",
    "auto_crop_with_padding",
    "content_box",
    "decode_asset",
    "decode_source",
    "merge_options",
    "parse_options",
    "probe",
    "process_image",
    "removal_upload",
    "run_steps",
]
