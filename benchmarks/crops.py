"""Side-by-side crops of the SVD codec and Pillow JPEG at the same PSNR, to look at where the errors go.

    .venv/bin/python benchmarks/crops.py [--out DIR]

For the astronaut's face and a patch of smooth sky in rocket.jpg, at 30 and 35 dB: the whole photo is encoded
with the SVD codec at that PSNR target and with Pillow JPEG at the smallest quality reaching the same PSNR
(`matched_quality` from benchmarks/codec.py); each PNG shows original | SVD | JPEG for the region, upscaled ×3
with nearest-neighbour so that tiles and blocks stay visible, over a caption with the whole image's PSNR, SSIM
and bytes. One BLAS thread. Writes to benchmarks/results/crops/ (a few seconds).

A grid is measured as well as shown: `metrics.grid_step` is how much larger the luma steps between neighbouring pixels
are across the codec's block edges (SVD tiles: 16, JPEG blocks: 8) than elsewhere in the crop, minus the same for
the original (whose content has no reason to step at those lines), in grey levels. A visible grid adds steps at
its edges only; 0 means the edges are like any other line of pixels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.codec import PHOTOS, RESULTS, load, matched_quality, pil_decode, print_table  # noqa: E402
from image_assets.codec import blas_threads, decode, encode  # noqa: E402
from image_assets.codec.metrics import grid_step, psnr, ssim  # noqa: E402

# name -> (photo, rows, cols): half-open pixel ranges of the crop.
REGIONS = {
    "astronaut_face": ("astronaut.png", (15, 185), (140, 310)),
    "rocket_sky": ("rocket.jpg", (0, 120), (215, 435)),
}
TARGETS = (30.0, 35.0)
SCALE = 3
GAP = 6
CAPTION = 64
GRIDS = {"SVD": 16, "JPEG": 8}  # the tile / block edges each codec's errors could line up on


def panel(pixels: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]) -> Image.Image:
    crop = pixels[rows[0] : rows[1], cols[0] : cols[1]]
    img = Image.fromarray(crop).convert("RGB")
    return img.resize((img.width * SCALE, img.height * SCALE), Image.Resampling.NEAREST)


def sheet(panels: list[Image.Image], captions: list[list[str]]) -> Image.Image:
    """The panels side by side on white, each over its caption lines."""
    w, h = panels[0].size
    out = Image.new("RGB", (len(panels) * w + (len(panels) - 1) * GAP, h + CAPTION), "white")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=15)
    for i, (img, lines) in enumerate(zip(panels, captions, strict=True)):
        x = i * (w + GAP)
        out.paste(img, (x, 0))
        for j, line in enumerate(lines):
            draw.text((x + 4, h + 4 + 19 * j), line, fill="black", font=font)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "crops", help="output directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table = []
    with blas_threads(1):
        for region, (photo, rows, cols) in REGIONS.items():
            pixels = load(PHOTOS / photo)
            for target in TARGETS:
                svd_data = encode(pixels, psnr=target)
                svd_out = decode(svd_data)
                quality, jpeg_data = matched_quality(pixels, "JPEG", target)
                jpeg_out = pil_decode(jpeg_data, pixels.ndim == 2)
                stats = {
                    "SVD": (svd_out, len(svd_data), f"SVD {target:g} dB target"),
                    "JPEG": (jpeg_out, len(jpeg_data), f"JPEG q{quality} (matched)"),
                }
                captions = [[f"original {photo}", f"rows {rows[0]}-{rows[1]}, cols {cols[0]}-{cols[1]}"]]
                path = args.out / f"{region}_{target:g}db.png"
                shown = path.resolve()
                shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
                for codec, (out, size, title) in stats.items():
                    whole_psnr, whole_ssim = psnr(pixels, out), ssim(pixels, out)
                    crop = pixels[rows[0] : rows[1], cols[0] : cols[1]], out[rows[0] : rows[1], cols[0] : cols[1]]
                    crop_psnr = psnr(*crop)
                    step = grid_step(*crop, GRIDS[codec], (rows[0], cols[0]))
                    captions.append(
                        [
                            title,
                            f"{whole_psnr:.2f} dB, SSIM {whole_ssim:.4f}, {size:,} B",
                            f"crop PSNR {crop_psnr:.2f} dB, grid step {step:+.2f}",
                        ]
                    )
                    table.append(
                        [
                            region,
                            f"{target:g}",
                            codec,
                            str(quality) if codec == "JPEG" else "-",
                            f"{size:,}",
                            f"{whole_psnr:.2f}",
                            f"{whole_ssim:.4f}",
                            f"{crop_psnr:.2f}",
                            f"{step:+.2f} ({GRIDS[codec]} px)",
                            str(shown) if codec == "SVD" else "",
                        ]
                    )
                panels = [panel(p, rows, cols) for p in (pixels, svd_out, jpeg_out)]
                sheet(panels, captions).save(path)
    print_table(
        f"crops (original | SVD | JPEG, ×{SCALE} nearest; bytes, PSNR and SSIM of the whole image)",
        ["region", "target dB", "codec", "quality", "bytes", "PSNR", "SSIM", "crop PSNR", "grid step", "file"],
        table,
    )


if __name__ == "__main__":
    main()
