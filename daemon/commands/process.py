"""`python -m daemon process IMAGE... --out DIR`: the pipeline on local files, no database.

Writes `DIR/<stem>/<variant>.<ext>` and `DIR/<stem>/result.json` (contract section 4, with local
paths and file:// URLs). Exit status 0 when every image succeeded, 1 otherwise, with one line per
failure: `<file>: <code>: <message>`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from loguru import logger

from daemon.cli import CommandError
from daemon.errors import ProcessingError, SourceNotFound, StorageFailed, as_processing_error
from daemon.pipeline import Limits, Rendered
from daemon.pipeline.options import ProcessingOptions, parse_options
from daemon.pipeline.removal import BackgroundRemover, NoRemover
from daemon.processing import process_source
from daemon.settings import Settings, load_settings

WORKER = "local"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="photos to process")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--options", default=None, metavar="JSON", help="processing options (contract section 3)"
    )
    parser.add_argument(
        "--remover",
        choices=("api4ai", "none"),
        default=None,
        help="background remover (default: BACKGROUND_REMOVER, else none)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="images processed at once (default: the number of cores)",
    )


def run(args: argparse.Namespace) -> int:
    options = parse_options(args.options)
    if args.jobs < 1:
        raise CommandError("--jobs must be at least 1.")
    settings = load_settings(**({"background_remover": args.remover} if args.remover else {}))
    limits = Limits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"Cannot create {args.out}: {exc.strerror or exc}.") from None
    batch = Batch(
        images=list(args.images),
        out=args.out,
        options=options,
        limits=limits,
        jobs=args.jobs,
    )
    failures = anyio.run(batch.run, settings)
    return 1 if failures else 0


@dataclass
class Batch:
    """One `process` invocation: images in, folders out, failures counted."""

    images: list[Path]
    out: Path
    options: ProcessingOptions
    limits: Limits
    jobs: int

    async def run(self, settings: Settings) -> int:
        remover = _remover(settings)
        # Threads for the CPU steps, and a separate bound on images in flight (hence memory).
        run_sync = partial(anyio.to_thread.run_sync, limiter=anyio.CapacityLimiter(self.jobs))
        in_flight = anyio.Semaphore(self.jobs)
        failures = 0
        stems = _unique_stems(self.images)
        try:
            with _progress(len(self.images)) as advance:

                async def one(image: Path, stem: str) -> None:
                    nonlocal failures
                    async with in_flight:
                        error = await self._one(image, stem, remover, run_sync)
                    if error is not None:
                        failures += 1
                        print(f"{image}: {error.code}: {error.message}", file=sys.stderr)
                    advance()

                async with anyio.create_task_group() as group:
                    for image, stem in zip(self.images, stems, strict=True):
                        group.start_soon(one, image, stem)
        finally:
            await remover.aclose()
        return failures

    async def _one(
        self, image: Path, stem: str, remover: BackgroundRemover, run_sync: Any
    ) -> ProcessingError | None:
        try:
            data = await anyio.Path(image).read_bytes()
        except FileNotFoundError:
            return SourceNotFound("The file does not exist.")
        except IsADirectoryError:
            return SourceNotFound("This is a folder, not an image file.")
        except OSError as exc:
            return SourceNotFound(f"The file cannot be read ({exc.strerror or 'I/O error'}).")
        try:
            rendered = await process_source(
                data, self.options, remover, limits=self.limits, run_sync=run_sync
            )
            await run_sync(partial(_write, self.out / stem, rendered, data))
        except Exception as exc:
            error = as_processing_error(exc)
            if not isinstance(exc, ProcessingError):
                logger.opt(exception=exc).debug("processing {} failed", image.name)
            return error
        return None


def _write(folder: Path, rendered: Rendered, data: bytes) -> None:
    """The variants and result.json of one image."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        variants: dict[str, Any] = {}
        for name, variant in rendered.variants.items():
            path = (folder / f"{name}.{variant.extension}").resolve()
            path.write_bytes(variant.data)
            variants[name] = {
                "bucket": None,
                "path": str(path),
                "url": path.as_uri(),
                "width": variant.width,
                "height": variant.height,
                "format": variant.format,
                "bytes": len(variant.data),
            }
        metadata = dict(rendered.metadata)
        metadata.setdefault("provider", "none")
        metadata.update(
            cache_hit=False,
            source_sha256=hashlib.sha256(data).hexdigest(),
            revision=0,
            worker=WORKER,
        )
        result = {"variants": variants, "metadata": metadata}
        (folder / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise StorageFailed(
            f"Cannot write the outputs to {folder} ({exc.strerror or 'I/O error'})."
        ) from None


def _remover(settings: Settings) -> BackgroundRemover:
    if settings.remover == "api4ai":
        # Imported here so `process` works without the API4.ai adapter's dependencies loaded.
        from daemon.removers.api4ai import Api4aiRemover

        return Api4aiRemover.from_settings(settings)
    return NoRemover()


def _unique_stems(images: list[Path]) -> list[str]:
    """One output folder per image: `car.jpg` and `car.png` become `car` and `car-png`."""
    seen: set[str] = set()
    stems: list[str] = []
    for image in images:
        stem = image.stem or "image"
        if stem in seen:
            stem = f"{stem}-{image.suffix.lstrip('.') or 'dup'}"
        n = 2
        base = stem
        while stem in seen:
            stem = f"{base}-{n}"
            n += 1
        seen.add(stem)
        stems.append(stem)
    return stems


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A progress bar on a terminal for batches; nothing when piped or for a single image."""
    if total < 2 or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("processing", total=total)
        yield lambda: progress.advance(task)
