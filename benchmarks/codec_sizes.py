"""Bytes per photo and PSNR target: this codec against another build of it (e.g. the previous format).

    git archive <rev> image_assets | tar -x -C /tmp/before
    .venv/bin/python benchmarks/codec_sizes.py --codec-root /tmp/before

Each codec runs in its own subprocess (one BLAS thread) on the bundled photos and scikit-image's photos and test
images; the table shows both sizes and their ratio, and the summary lists every image where this codec is more than
3% larger. Sizes do not depend on the machine's load, so one run suffices.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TARGETS = (30.0, 35.0, 40.0)
EXTRA = ("motorcycle_left.png", "retina.jpg", "coins.png", "moon.png", "ihc.png", "grass.png", "gravel.png",
         "brick.png", "chessboard_RGB.png", "color.png", "page.png", "text.png")  # fmt: skip
PHOTOS = {
    "motorcycle_left.png",
    "retina.jpg",
    "coins.png",
    "moon.png",
    "ihc.png",
    "grass.png",
    "gravel.png",
    "brick.png",
}

WORKER = """
import json, sys
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, sys.argv[1])
from image_assets.codec import blas_threads, encode
out = {}
with blas_threads(1):
    for path in json.loads(sys.argv[2]):
        with Image.open(path) as img:
            px = np.asarray(img.convert("L" if img.mode in ("L", "I;16") else "RGB"))
        for target in json.loads(sys.argv[3]):
            out[f"{Path(path).name}@{target:g}"] = len(encode(px, psnr=target))
print(json.dumps(out))
"""


def images() -> list[Path]:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    bundled = sorted((ROOT / "image_assets" / "data" / "photos").glob("*.[pj][pn]g"))
    return bundled + [data / name for name in EXTRA if (data / name).exists()]


def sizes(root: Path, paths: list[Path]) -> dict[str, int]:
    args = [sys.executable, "-c", WORKER, str(root), json.dumps([str(p) for p in paths]), json.dumps(TARGETS)]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec-root", type=Path, required=True, help="a directory holding the other image_assets")
    args = parser.parse_args()
    paths = images()
    before, after = sizes(args.codec_root, paths), sizes(ROOT, paths)
    rows, worse, photo_ratios = [], [], []
    for key, old in before.items():
        ratio = after[key] / old
        name = key.split("@")[0]
        kind = (
            "test image" if name not in PHOTOS and not (ROOT / "image_assets/data/photos" / name).exists() else "photo"
        )
        rows.append([key, kind, f"{old:,}", f"{after[key]:,}", f"{ratio:.3f}"])
        if kind == "photo":
            photo_ratios.append(ratio)
        if ratio > 1.03:
            worse.append(f"{key} ({kind}) {ratio:.2f}x")
    print("| image@dB | kind | other bytes | this bytes | ratio |\n|---|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nphotos: median ratio {statistics.median(photo_ratios):.3f}, worst {max(photo_ratios):.3f}")
    print("more than 3% larger: " + (", ".join(worse) if worse else "none"))


if __name__ == "__main__":
    main()
