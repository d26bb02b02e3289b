"""Benchmark the SVD codec against the reference method, Pillow JPEG and WebP on real photos.

    .venv/bin/python benchmarks/codec.py [--quick] [--targets 30,35,40] [--photos DIR_OR_FILE ...]

Everything runs on one BLAS thread. Tables print medians; ratios compare with JPEG/WebP at the same
PSNR (smallest quality reaching the target), with Pillow JPEG at quality 90 and with the reference method,
all measured in this process. A per-stage table times one encode and one decode of each mosaic at 35 dB
(`image_assets.codec.stages`). Writes a rate-distortion plot to benchmarks/results/rate_distortion.png.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from image_assets.codec import blas_threads, decode, encode
from image_assets.codec.metrics import psnr, ssim
from image_assets.codec.svd import randomized_svd

try:
    from image_assets.codec import stages
except ImportError:  # a codec from before per-stage timing: the stage table shows totals only
    stages = None

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "image_assets" / "data" / "photos"
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = (30.0, 35.0, 40.0)
PHOTO_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
MOSAICS = {"mosaic_1080p": "1080p", "mosaic_12mp": "12 MP"}  # image name -> label in the summary
STAGE_TARGET = 35.0


def skimage_photos() -> list[Path]:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    return [data / n for n in ("motorcycle_left.png", "retina.jpg") if (data / n).exists()]


def load(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L" if img.mode in ("L", "I;16") else "RGB"))


def mosaic(photos: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """A large image tiled from real photos at their native resolution (no upscaling)."""
    out = np.zeros((height, width, 3), np.uint8)
    colour = [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in photos]
    y, i = 0, 0
    while y < height:
        x, row_h = 0, 0
        while x < width:
            p = colour[i % len(colour)]
            i += 1
            h, w = min(p.shape[0], height - y), min(p.shape[1], width - x)
            out[y : y + h, x : x + w] = p[:h, :w]
            x += w
            row_h = max(row_h, h)
        y += row_h
    return out


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def reference(pixels: np.ndarray) -> bytes:
    """The method this project replaces: full float64 SVD per channel, rank 100, saved as PNG."""
    hwc = pixels[..., None] if pixels.ndim == 2 else pixels
    out = np.empty(hwc.shape, np.uint8)
    for c in range(hwc.shape[2]):
        u, s, vt = np.linalg.svd(hwc[:, :, c].astype(np.float64), full_matrices=True)
        k = min(100, s.size)
        out[:, :, c] = np.clip(u[:, :k] * s[:k] @ vt[:k], 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(out if pixels.ndim == 3 else out[:, :, 0]).save(buf, "PNG")
    return buf.getvalue()


def pil_encode(pixels: np.ndarray, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, quality=quality)
    return buf.getvalue()


def pil_decode(data: bytes, grey: bool = False) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L") if grey else img)


def matched_quality(pixels: np.ndarray, fmt: str, target: float) -> tuple[int, bytes]:
    """Smallest quality whose PSNR reaches the target (bisection; PSNR is monotone enough in quality)."""
    lo, hi = 1, 100
    best = pil_encode(pixels, fmt, 100)
    while lo < hi:
        mid = (lo + hi) // 2
        data = pil_encode(pixels, fmt, mid)
        if psnr(pixels, pil_decode(data, pixels.ndim == 2)) >= target:
            hi, best = mid, data
        else:
            lo = mid + 1
    return hi, best if hi < 100 else pil_encode(pixels, fmt, 100)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f}" if seconds >= 0.1 else f"{seconds * 1e3:.1f}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n### {title}\n")
    print("| " + " | ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |")


def sgemm_gflops(m: int, n: int, k: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, n), dtype=np.float32)
    b = rng.standard_normal((n, k), dtype=np.float32)
    seconds, _ = timed(lambda: a @ b, 3)
    return 2.0 * m * n * k / seconds / 1e9


def kernel_rate(plane: np.ndarray, rank: int) -> tuple[float, float, float]:
    """Randomized SVD GFLOP/s on one plane against sgemm of the same shape, same process."""
    a = np.ascontiguousarray(plane, dtype=np.float32)
    m, n = a.shape
    k = rank + 10
    seconds, _ = timed(lambda: randomized_svd(a, rank), 3)
    flops = 2.0 * m * n * k * 6  # A@Omega, 2 power iterations (2 products each), Q.T@A
    return flops / seconds / 1e9, sgemm_gflops(m, n, k), seconds


def extra_photos(paths: list[Path]) -> list[Path]:
    """The image files among `paths`, each a file or a directory (its images, not recursive)."""
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"--photos: no such file or directory: {path}")
    return found


def parse_targets(text: str) -> tuple[float, ...]:
    try:
        targets = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated PSNR targets in dB, got {text!r}") from None
    if not targets:
        raise argparse.ArgumentTypeError("no PSNR target given")
    return targets


@contextlib.contextmanager
def collect_stages() -> Iterator[dict[str, float]]:
    """The codec's per-stage times (stage name -> seconds) of the calls inside the block; empty if not instrumented."""
    if stages is None:
        yield {}
        return
    with stages.collect() as times:
        yield times


SPEED_ROUNDS = 5


def speed_rounds(
    pixels: np.ndarray, label: str, target: float, data: bytes, matched: dict[str, tuple[int, bytes]]
) -> dict[str, float]:
    """The speed ratios' times for one mosaic: the fastest of SPEED_ROUNDS rounds in which the SVD encode and decode,
    Pillow's JPEG q90 encode (the speed target's yardstick, whatever PSNR it gives) and the matched JPEG and WebP
    encodes and decodes alternate. The 2-core machine is shared and its speed drifts between minutes, so medians
    taken one codec after another moved a ratio by 20% between runs; alternating compares like with like."""
    gray = pixels.ndim == 2
    calls: dict[str, Callable[[], object]] = {
        f"svd enc {label}": lambda: encode(pixels, psnr=target),
        f"svd dec {label}": lambda: decode(data),
        f"JPEG q90 enc {label}": lambda: pil_encode(pixels, "JPEG", 90),
    }
    for fmt, (quality, ref) in matched.items():
        calls[f"{fmt} enc {label}"] = lambda f=fmt, q=quality: pil_encode(pixels, f, q)
        calls[f"{fmt} dec {label}"] = lambda r=ref: pil_decode(r, gray)
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(SPEED_ROUNDS):
        for key, call in calls.items():
            start = time.perf_counter()
            call()
            best[key] = min(best[key], time.perf_counter() - start)
    return best


def timed_stages(fn: Callable[[], object]) -> tuple[float, dict[str, float], object]:
    """One call's wall time (own timer), the stage times the codec recorded during it, and its result."""
    with collect_stages() as times:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        return seconds, dict(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats, no 12 MP image")
    parser.add_argument(
        "--targets",
        type=parse_targets,
        default=TARGETS,
        metavar="DB,DB,...",
        help="PSNR targets in dB, comma-separated (default 30,35,40)",
    )
    parser.add_argument(
        "--photos",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="extra photos: an image file (.png/.jpg/.jpeg/.webp) or a directory of them; repeatable",
    )
    args = parser.parse_args()
    repeat = 1 if args.quick else 3
    photos = {p.stem: load(p) for p in sorted(PHOTOS.glob("*.[pj][pn]g"))}
    if not args.quick:
        photos.update({p.stem: load(p) for p in skimage_photos()})
    # The mosaics stay made of the bundled photos, so that their timings compare across runs.
    colour = [p for p in photos.values() if p.ndim == 3]
    for path in extra_photos(args.photos):
        name, n = path.stem, 1
        while name in photos or name in MOSAICS:
            name, n = f"{path.stem}_{n}", n + 1
        photos[name] = load(path)
    images = dict(photos)
    images["mosaic_1080p"] = mosaic(colour, 1080, 1920)
    if not args.quick:
        images["mosaic_12mp"] = mosaic(colour, 3000, 4000)
    with blas_threads(1):
        run(images, repeat, args.targets)


def run(images: dict[str, np.ndarray], repeat: int, targets: tuple[float, ...]) -> None:
    rows: dict[str, list[list[str]]] = {}
    ratios: dict[tuple[str, float], list[float]] = {}
    ssim_gaps: dict[tuple[str, float], list[float]] = {}
    speed: dict[str, float] = {}
    rd: dict[str, list[tuple[float, float]]] = {"svd": [], "jpeg": [], "webp": []}
    for name, pixels in images.items():
        h, w = pixels.shape[:2]
        big = h * w > 5_000_000
        reps = 1 if big else repeat
        label = MOSAICS.get(name)
        print(f"{name} {w}x{h} ...", flush=True)
        if label is not None:
            seconds, data = timed(lambda p=pixels: reference(p), 1)
            speed[f"reference {label}"] = seconds
            out = pil_decode(data)
            rows.setdefault("reference (float64 full SVD, rank 100, PNG)", []).append(
                [
                    name,
                    f"{seconds * 1e3:.0f}",
                    f"{len(data) / (h * w):.3f}",
                    f"{psnr(pixels, out):.2f}",
                    f"{ssim(pixels, out):.4f}",
                ]
            )
        for target in targets:
            matched: dict[str, tuple[int, bytes]] = {}
            enc_s, data = timed(lambda p=pixels, t=target: encode(p, psnr=t), reps)
            dec_s, out = timed(lambda d=data: decode(d), reps)
            got = psnr(pixels, out)
            svd_ssim = ssim(pixels, out)
            rows.setdefault(f"svd codec psnr={target:g}", []).append(
                [
                    name,
                    f"{enc_s * 1e3:.0f}",
                    f"{dec_s * 1e3:.1f}",
                    f"{len(data) / (h * w):.3f}",
                    f"{got:.2f}",
                    f"{svd_ssim:.4f}",
                ]
            )
            rd["svd"].append((8 * len(data) / (h * w), got))
            for fmt in ("JPEG", "WEBP"):
                quality, ref = matched_quality(pixels, fmt, target)
                ref_enc, _ = timed(lambda p=pixels, f=fmt, q=quality: pil_encode(p, f, q), reps)
                ref_dec, ref_out = timed(lambda d=ref, g=pixels.ndim == 2: pil_decode(d, g), reps)
                ref_psnr, ref_ssim = psnr(pixels, ref_out), ssim(pixels, ref_out)
                rows.setdefault(f"{fmt.lower()} matched psnr={target:g}", []).append(
                    [
                        name,
                        f"{ref_enc * 1e3:.1f}",
                        f"{ref_dec * 1e3:.1f}",
                        f"{len(ref) / (h * w):.3f}",
                        f"{ref_psnr:.2f}",
                        f"{ref_ssim:.4f}",
                        str(quality),
                    ]
                )
                rd[fmt.lower()].append((8 * len(ref) / (h * w), ref_psnr))
                if label is None:
                    ratios.setdefault((fmt, target), []).append(len(data) / len(ref))
                    ssim_gaps.setdefault((fmt, target), []).append(svd_ssim - ref_ssim)
                matched[fmt] = (quality, ref)
            if label is not None and target == 35.0:
                speed.update(speed_rounds(pixels, label, target, data, matched))
    head = ["image", "ms", "bytes/px", "PSNR", "SSIM"]
    for title, table in rows.items():
        if title.startswith("reference"):
            print_table(title, head, table)
        elif title.startswith("svd"):
            print_table(title, ["image", "enc ms", "dec ms", "bytes/px", "PSNR", "SSIM"], table)
        else:
            print_table(title, ["image", "enc ms", "dec ms", "bytes/px", "PSNR", "SSIM", "quality"], table)
    stage_table({MOSAICS[n]: p for n, p in images.items() if n in MOSAICS})
    summary = []
    for (fmt, target), values in sorted(ratios.items()):
        summary.append(
            [
                f"svd bytes / {fmt} bytes at {target:g} dB",
                f"{median(values):.2f}",
                f"{min(values):.2f}-{max(values):.2f}",
            ]
        )
    for (fmt, target), values in sorted(ssim_gaps.items()):
        summary.append(
            [
                f"svd SSIM - {fmt} SSIM at {target:g} dB",
                f"{median(values):+.4f}",
                f"{min(values):+.4f} to {max(values):+.4f}",
            ]
        )
    s = speed

    def ratio(metric: str, num: str, den: str) -> None:
        if num in s and den in s:
            summary.append([metric, f"{s[num] / s[den]:.1f}", f"{ms(s[num])} ms vs {ms(s[den])} ms"])

    for label in MOSAICS.values():
        ratio(f"{label} encode at 35 dB: svd / JPEG matched", f"svd enc {label}", f"JPEG enc {label}")
        ratio(f"{label} encode at 35 dB: svd / JPEG q90", f"svd enc {label}", f"JPEG q90 enc {label}")
        ratio(f"{label} decode at 35 dB: svd / JPEG matched", f"svd dec {label}", f"JPEG dec {label}")
        ratio(f"{label} decode at 35 dB: svd / WEBP matched", f"svd dec {label}", f"WEBP dec {label}")
        ratio(f"{label}: reference / svd encode at 35 dB", f"reference {label}", f"svd enc {label}")
    big = images.get("mosaic_12mp", images["mosaic_1080p"])
    y = big.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) - 128
    rate, peak, seconds = kernel_rate(y, 100)
    summary.append(
        [
            f"randomized SVD kernel rank 100 on {y.shape[1]}x{y.shape[0]}",
            f"{rate / peak:.0%} of sgemm",
            f"{rate:.1f} vs {peak:.1f} GFLOP/s, {seconds * 1e3:.0f} ms",
        ]
    )
    print_table(
        "summary (medians over the photos; ratios measured in this process)",
        ["metric", "value", "detail"],
        summary,
    )
    plot(rd)


def stage_table(mosaics: dict[str, np.ndarray]) -> None:
    """One encode and one decode of each mosaic at 35 dB, split by the stages the codec reports."""
    columns: dict[str, dict[str, float]] = {}
    for label, pixels in mosaics.items():
        print(f"stages {label} ...", flush=True)
        enc_s, enc_stages, data = timed_stages(lambda p=pixels: encode(p, psnr=STAGE_TARGET))
        dec_s, dec_stages, _ = timed_stages(lambda d=data: decode(d))
        col = {k if k.startswith("encode: ") else f"encode: {k}": v for k, v in enc_stages.items()}
        col |= {k if k.startswith("decode: ") else f"decode: {k}": v for k, v in dec_stages.items()}
        col |= {"encode total": enc_s, "decode total": dec_s, "total": enc_s + dec_s}
        columns[label] = col
    totals = ("encode total", "decode total", "total")
    names = [n for col in columns.values() for n in col if n not in totals]
    names = list(dict.fromkeys(names))
    if names:
        names += list(totals)
    else:
        names = ["total"]  # the codec reports no stages (yet)
    table = []
    for n in names:
        cells = [f"{columns[lbl][n] * 1e3:.1f}" if n in columns.get(lbl, {}) else "-" for lbl in MOSAICS.values()]
        share = " / ".join(f"{col.get(n, 0.0) / col['total']:.0%}" for col in columns.values())
        table.append([n, *cells, share])
    shares = " / ".join(columns)
    print_table(
        f"encode/decode stages at 1080p and 12 MP, {STAGE_TARGET:g} dB (one encode + one decode; share: {shares})",
        ["stage", *(f"{lbl} ms" for lbl in MOSAICS.values()), "share of total"],
        table,
    )


def plot(rd: dict[str, list[tuple[float, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 5))
    for label, points in rd.items():
        bpp, db = zip(*points, strict=True)
        ax.scatter(bpp, db, label=label, s=18)
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel (log)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Rate-distortion on real photos (each point: one image, one target)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(RESULTS / "rate_distortion.png", dpi=120, bbox_inches="tight")
    print(f"\nplot: {RESULTS / 'rate_distortion.png'}")


if __name__ == "__main__":
    main()
