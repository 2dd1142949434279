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
from pathlib import Path, PurePosixPath
from typing import Any

import anyio
import anyio.to_thread
from loguru import logger

from daemon.app.settings import Settings, load_settings
from daemon.cli import CommandError
from daemon.domain.errors import (
    InvalidOptions,
    ProcessingError,
    SourceNotFound,
    StorageFailed,
    as_processing_error,
)
from daemon.domain.options import ProcessingOptions, parse_options
from daemon.lifecycle.assets import AssetCache
from daemon.lifecycle.outputs import Location, build_result
from daemon.lifecycle.processing import MemoryIO, run_pipeline
from daemon.lifecycle.slots import PipelineSlots
from daemon.pipeline import Limits, Rendered, Work
from daemon.pipeline.removal import BackgroundRemover, NoRemover

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
        "--assets",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="folder the options' backdrop and watermark paths are read from (default: here)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="images processed at once (default: the number of cores)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        options = parse_options(args.options)
    except InvalidOptions as exc:
        # Refused like any other failure: with its code, once per image it would have failed.
        for image in args.images:
            print(f"{image}: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
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
        assets=AssetCache(FolderAssets(args.assets), limits),
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
    assets: AssetCache

    async def run(self, settings: Settings) -> int:
        remover = _remover(settings)
        # Threads for the CPU steps, and a separate bound on images in flight (hence memory).
        slots = PipelineSlots(self.jobs)
        in_flight = anyio.Semaphore(self.jobs)
        failures = 0
        stems = _unique_stems(self.images)
        try:
            with _progress(len(self.images)) as advance:

                async def one(image: Path, stem: str) -> None:
                    nonlocal failures
                    async with in_flight:
                        error = await self._one(image, stem, remover, slots)
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
        self, image: Path, stem: str, remover: BackgroundRemover, slots: PipelineSlots
    ) -> ProcessingError | None:
        try:
            data = await anyio.Path(image).read_bytes()
        except FileNotFoundError:
            return SourceNotFound("The file does not exist.")
        except IsADirectoryError:
            return SourceNotFound("This is a folder, not an image file.")
        except OSError as exc:
            return SourceNotFound(f"The file cannot be read ({exc.strerror or 'I/O error'}).")
        io = FileIO(self.out / stem, data, remover, self.assets)
        try:
            options = self.options
            if options.preset is not None:
                raise InvalidOptions(
                    f"The preset '{options.preset}' cannot be used here: presets live in the "
                    "database; give `process` the options themselves."
                )
            work = Work(
                options=options,
                limits=self.limits,
                plan=remover.plan(options) if options.remove_background else None,
            )
            rendered = await run_pipeline(work, io, run_stretch=slots.run)
            await anyio.to_thread.run_sync(io.write_result, rendered)
        except Exception as exc:
            error = as_processing_error(exc)
            if not isinstance(exc, ProcessingError):
                logger.opt(exception=exc).debug("processing {} failed", image.name)
            return error
        return None


class FolderAssets:
    """Backdrops and logos as files under a folder (`--assets DIR`)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self.where = f"the folder {root}"

    def _file(self, path: str) -> Path:
        return self._root / PurePosixPath(path)  # the options' pattern forbids dot segments

    async def version(self, path: str) -> str | None:
        try:
            stat = await anyio.Path(self._file(path)).stat()
        except OSError:
            return None
        return f"{stat.st_mtime_ns}-{stat.st_size}"

    async def fetch(self, path: str) -> bytes:
        try:
            return await anyio.Path(self._file(path)).read_bytes()
        except OSError:
            raise SourceNotFound(f"{path} cannot be read.") from None


class FileIO(MemoryIO):
    """The pipeline's I/O steps for one local file: the bytes in hand, the assets from the
    folder, outputs to a folder (the remover is called as it is, as in MemoryIO)."""

    def __init__(
        self, folder: Path, data: bytes, remover: BackgroundRemover, assets: AssetCache
    ) -> None:
        super().__init__(data, remover)
        self._folder = folder
        self._asset_cache = assets
        self.locations: dict[str, Location] = {}

    async def download(self, work: Work) -> None:
        work.assets = await self._asset_cache.for_options(work.options)
        work.data = self._data

    async def upload(self, work: Work) -> None:
        await anyio.to_thread.run_sync(self._write_variants, work)

    def _write_variants(self, work: Work) -> None:
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            for name, variant in work.variants.items():
                path = (self._folder / f"{name}.{variant.extension}").resolve()
                path.write_bytes(variant.data)
                self.locations[name] = Location(None, str(path), path.as_uri())
        except OSError as exc:
            raise StorageFailed(
                f"Cannot write the outputs to {self._folder} ({exc.strerror or 'I/O error'})."
            ) from None

    def write_result(self, rendered: Rendered) -> None:
        result = build_result(
            rendered,
            self.locations,
            source_sha256=hashlib.sha256(self._data).hexdigest(),
            revision=0,
            worker=WORKER,
        )
        try:
            text = json.dumps(result, indent=2) + "\n"
            (self._folder / "result.json").write_text(text, encoding="utf-8")
        except OSError as exc:
            raise StorageFailed(
                f"Cannot write the outputs to {self._folder} ({exc.strerror or 'I/O error'})."
            ) from None


def _remover(settings: Settings) -> BackgroundRemover:
    if settings.remover == "api4ai":
        # Imported here so `process` works without the API4.ai adapter's dependencies loaded.
        from daemon.adapters.api4ai import Api4aiRemover

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
