"""Peak memory of one encode, in bytes per pixel, against the codec's bound of 32.

    .venv/bin/python benchmarks/memory.py [--quick | --all] [--sizes 1920x1080,...] [--inputs flat,noise,...]
                                          [--paths file,array] [--policy psnr=35] [--codec-root DIR]

Inputs: a single flat colour, a smooth gradient, a photo (a mosaic of the bundled photos at their native
resolution, as benchmarks/codec.py builds), uniform RGB noise (every tile keeps all 16 triplets in three
full-resolution planes: the worst case for RGB) and RGBA noise (four such planes), at 1920x1080, 4000x3000
(12 MP) and 6000x6000, the noise inputs up to 12 MP unless `--all` (their bytes per pixel no longer change
past a few megapixels, and each takes about two minutes at 6000x6000). About 8 minutes on two cores; `--all`
about 15; `--quick` (1280x720 and 1920x1080) about one. Two paths: `file` is `compress_image` on PNG bytes,
what `imgpipe compress` and the pipeline call (so it includes decoding the PNG); `array` is `encode_pixels`
on a uint8 array.

Each encode runs in a fresh child process (multiprocessing spawn, one BLAS thread) that builds its input,
imports the codec and encodes a small image first (lazy imports and caches), then measures the one call:

- traced: tracemalloc's peak during the call (numpy reports its buffers to tracemalloc; Pillow's and zstd's
  C allocations are not traced);
- RSS: the peak resident set during the call (VmHWM, reset just before it through /proc/self/clear_refs;
  ru_maxrss where that is not available) minus the resident set at its start.

Both exclude the call's argument (the PNG bytes, or the pixel array), which the caller holds anyway; the
file path includes the decoded pixels. Times are measured under tracemalloc (slower than a plain encode).
`--codec-root DIR` measures the codec importable from DIR instead (e.g. a `git worktree` of an earlier
commit), for before/after tables.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import markdown_table  # noqa: E402

BOUND = 32.0  # bytes per pixel (docs/codec.md)
INPUTS = ("flat", "gradient", "photo", "noise", "noise-rgba")
SIZES = ((1920, 1080), (4000, 3000), (6000, 6000))
QUICK_SIZES = ((1280, 720), (1920, 1080))
NOISE_MAX_PIXELS = 12_000_000  # without --all


@dataclass(frozen=True)
class Case:
    kind: str
    width: int
    height: int
    path: str
    policy: str
    codec_root: str | None


def make_pixels(kind: str, width: int, height: int) -> Any:
    """The input image as uint8 HxWxC."""
    import numpy as np

    if kind == "flat":
        pixels = np.empty((height, width, 3), np.uint8)
        pixels[:] = (200, 120, 40)
        return pixels
    if kind == "gradient":
        x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
        y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        pixels = np.empty((height, width, 3), np.uint8)
        pixels[:, :, 0] = x
        pixels[:, :, 1] = y
        pixels[:, :, 2] = (x + y) / 2
        return pixels
    if kind == "photo":
        from benchmarks.codec import PHOTOS, load, mosaic

        photos = [load(p) for p in sorted(PHOTOS.glob("*.*")) if p.suffix in {".png", ".jpg"}]
        return mosaic(photos, height, width)
    rng = np.random.default_rng(0)
    channels = 4 if kind == "noise-rgba" else 3
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def measure(case: Case) -> dict[str, Any]:
    """Run in the child: build the input, warm the codec up, then measure one encode call."""
    if case.codec_root:
        sys.path.insert(0, case.codec_root)
    import gc
    import io
    import resource
    import tracemalloc

    import numpy as np
    from PIL import Image

    from image_assets.codec import RankPolicy, compress_image, encode_pixels

    policy = RankPolicy.parse(case.policy)
    encode_pixels(make_pixels(case.kind, 64, 48), policy)  # imports, BLAS thread pools, caches
    pixels = make_pixels(case.kind, case.width, case.height)
    data = b""
    if case.path == "file":
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
        data = buffer.getvalue()
        del buffer, pixels
        pixels = None
    gc.collect()
    exact = _reset_peak_rss()
    start_kib = _status_kib("VmRSS") if exact else None
    if start_kib is None:
        start_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    began = time.perf_counter()
    result = compress_image(data, policy) if case.path == "file" else encode_pixels(pixels, policy)
    seconds = time.perf_counter() - began
    _current, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_kib = (_status_kib("VmHWM") if exact else None) or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "traced": traced,
        "rss": max(peak_kib - start_kib, 0) * 1024,
        "rss_exact": exact,
        "seconds": seconds,
        "file_bytes": len(data),
        "out_bytes": len(result.data),
        "layout": result.layout,
        "psnr": float(np.float64(result.psnr)),
    }


def run(case: Case) -> dict[str, Any]:
    """`measure` in a fresh spawned process (nothing from this one's heap counts)."""
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(measure, (case,))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1280x720 and 1920x1080 only (about a minute)")
    parser.add_argument("--all", action="store_true", help="noise inputs at every size too (about 15 minutes)")
    parser.add_argument("--sizes", help="WxH,... (default: 1920x1080,4000x3000,6000x6000)")
    parser.add_argument("--inputs", default=",".join(INPUTS), help=f"some of {','.join(INPUTS)}")
    parser.add_argument("--paths", default="file,array", help="file (compress_image on PNG bytes), array")
    parser.add_argument("--policy", default="psnr=35", help="rank policy, as `imgpipe compress` takes it")
    parser.add_argument("--codec-root", help="import image_assets.codec from this folder instead")
    args = parser.parse_args()
    if args.sizes:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    else:
        sizes = list(QUICK_SIZES if args.quick else SIZES)
    kinds = [k for k in args.inputs.split(",") if k]
    unknown = sorted(set(kinds) - set(INPUTS))
    if unknown:
        parser.error(f"unknown inputs {unknown}; expected some of {INPUTS}")
    paths = [p for p in args.paths.split(",") if p]
    root = str(Path(args.codec_root).resolve()) if args.codec_root else None

    print(
        f"peak encode memory, policy {args.policy}, bound {BOUND:g} bytes/pixel"
        + (f", codec from {root}" if root else "")
    )
    print()
    print("| input | size | path | layout | peak traced | traced B/px | peak RSS growth | RSS B/px | time | bound |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---|")
    rows = []
    started = time.perf_counter()
    for width, height in sizes:
        for kind in kinds:
            if kind.startswith("noise") and width * height > NOISE_MAX_PIXELS and not (args.all or args.sizes):
                continue
            for path in paths:
                case = Case(kind, width, height, path, args.policy, root)
                got = run(case)
                pixels = width * height
                traced, rss = got["traced"] / pixels, got["rss"] / pixels
                verdict = "PASS" if max(traced, rss) <= BOUND else "FAIL"
                rows.append((case, traced, rss, verdict))
                rss_note = "" if got["rss_exact"] else " (ru_maxrss)"
                print(
                    f"| {kind} | {width}x{height} | {path} | {got['layout']} | {got['traced'] / 2**20:,.0f} MiB | "
                    f"{traced:.1f} | {got['rss'] / 2**20:,.0f} MiB{rss_note} | {rss:.1f} | {got['seconds']:.1f} s | "
                    f"{verdict} |",
                    flush=True,
                )
    worst_traced = max(rows, key=lambda r: r[1])
    worst_rss = max(rows, key=lambda r: r[2])
    failed = [r for r in rows if r[3] == "FAIL"]

    def where(row: tuple[Case, float, float, str]) -> str:
        case = row[0]
        return f"{case.kind} {case.width}x{case.height} {case.path}"

    print()
    print(
        markdown_table(
            [
                ("worst traced peak", f"{worst_traced[1]:.1f} B/px", where(worst_traced)),
                ("worst RSS peak", f"{worst_rss[2]:.1f} B/px", where(worst_rss)),
                (
                    f"encodes within {BOUND:g} B/px",
                    f"{len(rows) - len(failed)} of {len(rows)}",
                    "PASS" if not failed else "FAIL",
                ),
                ("wall time", f"{time.perf_counter() - started:.0f} s", "one child process per encode"),
            ]
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
