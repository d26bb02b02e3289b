"""What the per-image quality figures cost, and how far the fast SSIM is from scikit-image's full SSIM.

    .venv/bin/python benchmarks/quality_metrics.py

For each bundled photo and a 1920x1080 mosaic of them, encoded at 30 and 35 dB on one BLAS thread: the encode
time, the time of `metrics.fast_ssim` (luma, float32, 8x8 windows at two phases: what every encode reports) and of
scikit-image's full SSIM (all channels, 7x7 sliding window, float64: what the pipeline used to compute), and the
two SSIM values. Medians of 3 timings; the table ends with the medians over the photos.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.codec import PHOTOS, load, mosaic, timed  # noqa: E402
from image_assets.codec import RankPolicy, blas_threads, decode, encode_pixels  # noqa: E402
from image_assets.codec.metrics import fast_ssim, ssim  # noqa: E402


def main() -> int:
    photos = {p.name: load(p) for p in sorted(PHOTOS.glob("*.*")) if p.suffix in {".png", ".jpg"}}
    photos["mosaic 1920x1080"] = mosaic(list(photos.values()), 1080, 1920)
    rows = []
    with blas_threads(1):
        for name, pixels in photos.items():
            for target in (30.0, 35.0):
                encode_s, result = timed(lambda p=pixels, t=target: encode_pixels(p, RankPolicy("psnr", t)), 3)
                decoded = decode(result.data)
                fast_s, fast = timed(lambda p=pixels, d=decoded: fast_ssim(p, d), 3)
                full_s, full = timed(lambda p=pixels, d=decoded: ssim(p, d), 1)
                rows.append((name, target, encode_s, fast_s, full_s, fast, full))
    print(
        "| photo | target | encode | fast SSIM time | share of encode | full SSIM time | fast SSIM | full SSIM | "
        "fast − full |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, target, enc, fs, ful, fast, full in rows:
        print(
            f"| {name} | {target:.0f} dB | {enc * 1e3:.0f} ms | {fs * 1e3:.1f} ms | {fs / enc:.1%} | "
            f"{ful * 1e3:.0f} ms | {fast:.4f} | {full:.4f} | {fast - full:+.4f} |"
        )
    share = statistics.median(fs / enc for _, _, enc, fs, *_ in rows)
    diff = [fast - full for *_, fast, full in rows]
    grey = [fast - full for name, _, _, _, _, fast, full in rows if photos[name].ndim == 2]
    print(
        f"\nmedian fast SSIM time / encode time: {share:.1%}; median fast − full: {statistics.median(diff):+.4f} "
        f"(range {min(diff):+.4f} … {max(diff):+.4f}); on the grey photo, where luma is the whole image: "
        f"{', '.join(f'{g:+.4f}' for g in grey)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
