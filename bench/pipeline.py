"""Benchmark of the image pipeline against its floor, a naive reference and pyvips.

    .venv/bin/python bench/pipeline.py [--repeat 3] [--rounds 2] [--sizes 12,48]

On a 12 MP and a 48 MP input, each as an RGBA cutout PNG (what a removal API returns) and as a
JPEG original with the provider's mask, with the default options and with a dealer's studio
(a backdrop and a logo, as a preset gives them), side by side in one run:

  (a) this pipeline (`process_image`: contact shadow, three WebP variants; with the studio, the
      car on the backdrop and the logo on every variant);
  (b) the floor: decoding the same input (same scale-on-load) and encoding again the very pixels
      (a) encodes (taken before its encode step), same formats and settings, nothing else;
  (c) with the default options only: a naive reference written the way the plan sketches it:
      full decode, numpy bounding box, full-resolution Gaussian shadow over the whole canvas,
      each variant resized from the full image, PNG master;
  (d) with the default options only: the same work in pyvips (shrink-on-load, find_trim, blur
      in a band, cascaded variants).

Each (input, implementation) runs in its own process, so peak RSS is that implementation's alone
(VmHWM, interpreter and libraries included; for (b), counted from after the pipeline run that
gives it its pixels). Times are the best of --repeat runs after one untimed run in each
process, over --rounds rounds that run the implementations in turn (the machine is shared; the
best run is the least disturbed). Then images per second
of (a) with 1 and 2 worker threads on the 12 MP cutout. The last line printed is one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image, ImageFilter

from daemon.domain.options import ProcessingOptions
from daemon.pipeline import (
    PIPELINE,
    Asset,
    Assets,
    Limits,
    NoHooks,
    Work,
    decode_source,
    parse_options,
    process_image,
    run_steps,
)
from daemon.pipeline.encode import encode
from daemon.pipeline.removal import Removal

SIZES = {12: (4000, 3000), 48: (8000, 6000)}
LIMITS = Limits(max_bytes=500 * 1024 * 1024, max_pixels=200_000_000)
IMPLEMENTATIONS = ("a", "b", "c", "d")
TARGETS = {"a/b": 1.2, "a/c": 0.5, "a/d": 1.0, "rss_48mp_mb": 400, "thread_scaling": 1.8}
OPTION_SETS = ("default", "studio")
STUDIO_OPTIONS = {
    "backdrop": {"path": "studio.png", "floor": 0.84},
    "watermark": {"path": "logo.png", "position": "bottom-right", "width": 0.15},
}


def options_for(name: str) -> tuple[ProcessingOptions, Assets]:
    """The options of one set, and the decoded assets it names (as the daemon's cache has them)."""
    if name == "default":
        return ProcessingOptions(), Assets()
    from bench.views import render_logo, render_studio

    assets = Assets(
        backdrop=Asset("studio.png", render_studio(3000, 2000, floor=0.84)),
        logo=Asset("logo.png", render_logo(800)),
    )
    return parse_options(STUDIO_OPTIONS), assets


# ---- inputs --------------------------------------------------------------------------------


def make_inputs(folder: Path, megapixels: int) -> dict[str, Path]:
    """The cutout PNG, the JPEG original and its mask for one size (cached between runs)."""
    width, height = SIZES[megapixels]
    paths = {
        "cutout": folder / f"cutout-{megapixels}mp.png",
        "jpeg": folder / f"studio-{megapixels}mp.jpg",
        "mask": folder / f"studio-{megapixels}mp.mask.png",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    from bench.synthetic import render_pair

    studio, cutout = render_pair(width, height, kind="sedan", seed=megapixels, scale=0.62)
    cutout.save(paths["cutout"], compress_level=6)
    studio.save(paths["jpeg"], quality=92)
    # The provider answers for the upload (long edge at most 4096, see settings), not the original.
    mask = cutout.getchannel("A")
    if max(mask.size) > 4096:
        ratio = 4096 / max(mask.size)
        mask = mask.resize((round(width * ratio), round(height * ratio)), Image.Resampling.BOX)
    mask.save(paths["mask"])
    return paths


def load_case(paths: dict[str, Path], kind: str) -> tuple[bytes, Removal | None]:
    if kind == "cutout":
        return paths["cutout"].read_bytes(), None
    removal = Removal(kind="mask", png=paths["mask"].read_bytes(), provider="bench", mode="fg-mask")
    return paths["jpeg"].read_bytes(), removal


# ---- (a) this pipeline -----------------------------------------------------------------------


def run_a(
    data: bytes, removal: Removal | None, option_set: str = "default", cached: Any = None
) -> dict[str, bytes]:
    options, assets = cached if cached is not None else options_for(option_set)
    result = process_image(data, options, limits=LIMITS, removal=removal, assets=assets)
    return {name: v.data for name, v in result.variants.items()}


# ---- (b) the floor ---------------------------------------------------------------------------


def prepare_b(data: bytes, removal: Removal | None, cached: Any) -> list[tuple[Image.Image, Any]]:
    """The very pixels (a) encodes, taken before its encode step, before the clock starts."""
    options, assets = cached
    work = Work(options=options, limits=LIMITS, assets=assets, data=data, removal=removal)
    run_steps(work, (s for s in PIPELINE if not s.io and s.name != "encode"), NoHooks())
    return [(work.images[spec.name], spec) for spec in options.variants]


def run_b(data: bytes, removal: Removal | None, outputs: list[tuple[Image.Image, Any]]) -> None:
    decode_source(data, ProcessingOptions(), LIMITS)  # same guard, scale-on-load, sRGB
    if removal is not None:
        Image.open(io.BytesIO(removal.png)).load()
    for image, spec in outputs:
        encode(image, spec)


# ---- (c) the naive reference -----------------------------------------------------------------


def run_c(data: bytes, removal: Removal | None) -> None:
    image = Image.open(io.BytesIO(data))
    image.load()
    image = image.convert("RGBA")
    if removal is not None:
        mask = Image.open(io.BytesIO(removal.png)).convert("L").resize(image.size)
        image.putalpha(mask)
    alpha = np.array(image)[:, :, 3]
    rows = np.any(alpha > 10, axis=1)
    cols = np.any(alpha > 10, axis=0)
    rmin, rmax = np.where(rows)[0][[0, -1]]
    cmin, cmax = np.where(cols)[0][[0, -1]]
    pad_x = max(20, int((cmax - cmin) * 0.05))
    pad_y = max(20, int((rmax - rmin) * 0.05))
    image = image.crop(
        (
            max(0, cmin - pad_x),
            max(0, rmin - pad_y),
            min(image.width, cmax + pad_x + 1),
            min(image.height, rmax + pad_y + 1),
        )
    )
    # Full-resolution Gaussian shadow over the whole canvas.
    offset = max(4, image.width // 100)
    shadow = Image.new("RGBA", (image.width + 4 * offset, image.height + 4 * offset), (0, 0, 0, 0))
    silhouette = image.getchannel("A").point(lambda a: a // 2)
    black = Image.new("RGBA", image.size, (0, 0, 0, 255))
    shadow.paste(black, (2 * offset, 3 * offset), silhouette)
    shadow = shadow.filter(ImageFilter.GaussianBlur(offset))
    shadow.alpha_composite(image, (offset, offset))
    # Each variant from the full image; the master as PNG.
    processed = shadow.copy()
    processed.thumbnail((2560, 2560), Image.Resampling.LANCZOS)
    processed.save(io.BytesIO(), format="PNG")
    detail = shadow.copy()
    detail.thumbnail((1600, 1600), Image.Resampling.LANCZOS)
    detail.save(io.BytesIO(), format="WEBP", quality=85)
    grid = shadow.copy()
    grid.thumbnail((640, 480), Image.Resampling.LANCZOS)
    board = Image.new("RGBA", (640, 480), (0, 0, 0, 0))
    board.paste(grid, ((640 - grid.width) // 2, (480 - grid.height) // 2))
    board.save(io.BytesIO(), format="WEBP", quality=80)


# ---- (d) pyvips ------------------------------------------------------------------------------


def run_d(data: bytes, removal: Removal | None) -> None:
    import pyvips

    if removal is None:
        image = pyvips.Image.new_from_buffer(data, "", access="sequential")
    else:
        probe = pyvips.Image.new_from_buffer(data, "")
        shrink = 1
        while max(probe.width, probe.height) // (shrink * 2) >= 3840 and shrink < 8:
            shrink *= 2
        image = pyvips.Image.new_from_buffer(data, "", shrink=shrink, access="sequential")
        mask = pyvips.Image.new_from_buffer(removal.png, "")
        mask = mask.resize(image.width / mask.width, vscale=image.height / mask.height)
        image = image.bandjoin(mask)
    image = image.copy_memory()
    alpha = image[3] > 10
    left, top, width, height = alpha.find_trim(threshold=0, background=[0])
    pad_x = max(20, int(width * 0.05))
    pad_y = max(20, int(height * 0.05))
    x0, y0 = max(0, left - pad_x), max(0, top - pad_y)
    x1 = min(image.width, left + width + pad_x)
    y1 = min(image.height, top + height + pad_y)
    image = image.crop(x0, y0, x1 - x0, y1 - y0)
    scale = min(1.0, 2560 / max(image.width, image.height))
    master = image.resize(scale, kernel="lanczos3").copy_memory()
    # Contact-style shadow: the alpha squashed flat and blurred, in a band under the car.
    car_w = master.width
    band_h = max(8, car_w // 12)
    flat = master[3].resize(1, vscale=max(2, car_w // 60) / master.height)
    band = flat.embed(0, band_h // 3, master.width, band_h).gaussblur(max(1.0, car_w / 120))
    band = (band * 0.5).cast("uchar")
    shadow = pyvips.Image.black(master.width, master.height + band_h // 2, bands=4)
    shadow = shadow.insert(
        pyvips.Image.black(master.width, band_h, bands=3).bandjoin(band),
        0,
        master.height - band_h // 2,
    )
    shadow = shadow.copy(interpretation="srgb")
    master = shadow.composite2(master.embed(0, 0, shadow.width, shadow.height), "over")
    master = master.cast("uchar").copy_memory()
    master.webpsave_buffer(Q=90, effort=4, strip=True)
    detail = master.resize(min(1.0, 1600 / max(master.width, master.height)), kernel="lanczos3")
    detail = detail.copy_memory()
    detail.webpsave_buffer(Q=85, effort=4, strip=True)
    grid = detail.resize(min(640 / detail.width, 480 / detail.height), kernel="lanczos3")
    grid = grid.gravity("centre", 640, 480)
    grid.webpsave_buffer(Q=80, effort=4, strip=True)


# ---- measuring ---------------------------------------------------------------------------------


def worker(
    impl: str, folder: Path, megapixels: int, kind: str, repeat: int, option_set: str
) -> None:
    """One implementation on one input, in this process: best time and peak RSS, as JSON."""
    data, removal = load_case(make_inputs(folder, megapixels), kind)
    runs: dict[str, Callable[[], Any]]
    if impl == "b":
        # The floor keeps the pixels to encode, not the assets nor the pipeline's leftovers.
        outputs = prepare_b(data, removal, options_for(option_set))
        forget_peak()  # the floor's peak is its decode and encodes, not the pipeline run above
        runs = {"b": lambda: run_b(data, removal, outputs)}
    elif impl == "a":
        cached = options_for(option_set)
        runs = {"a": lambda: run_a(data, removal, cached=cached)}
    else:
        func = {"c": run_c, "d": run_d}[impl]
        runs = {impl: lambda: func(data, removal)}
    # One untimed run first: a daemon's photo is never its process's first (lazy imports, codec
    # set-up, the backdrop scaled once, the allocator's first touch of its pages).
    runs[impl]()
    best = best_cpu = float("inf")
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        runs[impl]()
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    rss_mb = peak_rss_mb()
    print(json.dumps({"seconds": best, "cpu_seconds": best_cpu, "rss_mb": rss_mb}))


def forget_peak() -> None:
    """Give freed heap memory back and restart the peak RSS from here (Linux; else a no-op)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except (OSError, AttributeError):
        pass


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec,
    so a child would report its parent's peak (the parent renders the 48 MP inputs)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(
    impl: str, folder: Path, megapixels: int, kind: str, repeat: int, option_set: str
) -> dict[str, float]:
    env = dict(os.environ, VIPS_CONCURRENCY="1", OMP_NUM_THREADS="1")
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            impl,
            "--folder",
            str(folder),
            "--mp",
            str(megapixels),
            "--kind",
            kind,
            "--repeat",
            str(repeat),
            "--options",
            option_set,
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def side_by_side(
    impls: tuple[str, ...],
    rounds: int,
    folder: Path,
    megapixels: int,
    kind: str,
    repeat: int,
    option_set: str,
) -> dict[str, dict[str, float]]:
    """Each implementation's best time and its peak RSS over `rounds` rounds that take them in
    turn (a, b, a, b...): a slow spell of the shared machine then slows every one of them, not
    the one that happened to run during it."""
    got: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for impl in impls:
            one = measure(impl, folder, megapixels, kind, repeat, option_set)
            best = got.setdefault(impl, one)
            for key in ("seconds", "cpu_seconds"):
                best[key] = min(best[key], one[key])
            best["rss_mb"] = max(best["rss_mb"], one["rss_mb"])
    return got


def threads(folder: Path, count: int, images: int) -> tuple[float, float]:
    """Images per second of (a) on the 12 MP cutout with `count` worker threads, and the CPU
    seconds used per wall second (about `count` when the threads really run in parallel; less
    when the GIL or other processes on the machine hold them back)."""
    data, removal = load_case(make_inputs(folder, 12), "cutout")
    run_a(data, removal)  # warm up
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(lambda _: run_a(data, removal), range(images)))
    wall = time.perf_counter() - started
    return images / wall, (time.process_time() - cpu) / wall


def _case(got: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Ratios of (a) to the others, wall and CPU, and each one's peak RSS."""
    t = {impl: got[impl]["seconds"] for impl in got}
    cpu = {impl: got[impl]["cpu_seconds"] for impl in got}
    case: dict[str, Any] = {
        "seconds": {k: round(v, 3) for k, v in t.items()},
        "rss_mb": {k: round(got[k]["rss_mb"]) for k in got},
        # CPU seconds too: on a shared machine they are steadier than wall time.
        "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
    }
    for other in ("b", "c", "d"):
        if other in t:
            case[f"a/{other}"] = round(t["a"] / t[other], 2)
            case[f"cpu a/{other}"] = round(cpu["a"] / cpu[other], 2)
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", default="12,48")
    parser.add_argument(
        "--folder", type=Path, default=Path(tempfile.gettempdir()) / "pipeline-bench"
    )
    parser.add_argument("--worker", choices=IMPLEMENTATIONS)
    parser.add_argument("--mp", type=int)
    parser.add_argument("--kind", choices=("cutout", "jpeg"))
    parser.add_argument("--threads-images", type=int, default=6)
    parser.add_argument("--options", choices=OPTION_SETS, default="default")
    args = parser.parse_args()
    if args.repeat < 1 or args.rounds < 1:
        parser.error("--repeat and --rounds must be at least 1")
    args.folder.mkdir(parents=True, exist_ok=True)
    if args.worker:
        worker(args.worker, args.folder, args.mp, args.kind, args.repeat, args.options)
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    figures: dict[str, Any] = {"cases": {}}
    print(
        f"{'case':<22}{'a s':>8}{'b s':>8}{'c s':>8}{'d s':>8}{'a/b':>7}{'a/c':>7}{'a/d':>7}"
        f"   peak RSS MB a/b/c/d"
    )
    for mp in sizes:
        make_inputs(args.folder, mp)
        for option_set in OPTION_SETS:
            for kind in ("cutout", "jpeg"):
                name = f"{mp}mp-{kind}" + ("" if option_set == "default" else f"-{option_set}")
                impls = IMPLEMENTATIONS if option_set == "default" else ("a", "b")
                repeat = args.repeat if mp < 48 else max(1, args.repeat - 1)
                got = side_by_side(impls, args.rounds, args.folder, mp, kind, repeat, option_set)
                figures["cases"][name] = case = _case(got)
                t = case["seconds"]
                print(
                    f"{name:<22}{t['a']:8.2f}{t['b']:8.2f}{t.get('c', 0):8.2f}{t.get('d', 0):8.2f}"
                    f"{case['a/b']:7.2f}{case.get('a/c', 0):7.2f}{case.get('a/d', 0):7.2f}   "
                    + "/".join(str(v) for v in case["rss_mb"].values()),
                    flush=True,
                )
    one, one_cpu = threads(args.folder, 1, args.threads_images)
    two, two_cpu = threads(args.folder, 2, args.threads_images)
    figures["images_per_second"] = {"1": round(one, 2), "2": round(two, 2)}
    figures["cpu_per_wall"] = {"1": round(one_cpu, 2), "2": round(two_cpu, 2)}
    figures["thread_scaling"] = round(two / one, 2)
    print(
        f"12 MP cutout, images/s: 1 thread {one:.2f}, 2 threads {two:.2f} ({two / one:.2f}x); "
        f"CPU per wall second {one_cpu:.2f} and {two_cpu:.2f}"
    )
    cases = figures["cases"].values()
    figures["worst"] = {
        "a/b": max(c["a/b"] for c in cases),
        "a/c": max(c["a/c"] for c in cases if "a/c" in c),
        "a/d": max(c["a/d"] for c in cases if "a/d" in c),
        "rss_48mp_mb": max(
            (c["rss_mb"]["a"] for n, c in figures["cases"].items() if n.startswith("48")), default=0
        ),
    }
    worst = figures["worst"]
    figures["targets_met"] = {
        "a/b": worst["a/b"] <= TARGETS["a/b"],
        "a/c": worst["a/c"] <= TARGETS["a/c"],
        "a/d": worst["a/d"] <= TARGETS["a/d"],
        "rss_48mp_mb": worst["rss_48mp_mb"] < TARGETS["rss_48mp_mb"],
        "thread_scaling": figures["thread_scaling"] >= TARGETS["thread_scaling"],
    }
    figures["cores"] = os.cpu_count()
    figures["load_average"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
