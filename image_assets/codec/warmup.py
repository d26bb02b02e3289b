"""Compile the codec's numba kernels into their on-disk cache: `python -m image_assets.codec.warmup`.

The first process to use a kernel compiles it (about a minute for all of them on the 2-core development machine);
later processes, Spark's Python workers included, load the cached machine code in milliseconds. `make warm` (which
`make test`, `make demo` and the others run first) runs this once per change of the codec's sources, so no test,
demo or pipeline run pays for compilation.

Numba checks a cached kernel against its own source file only, and several kernels inline functions from other
modules (the intrinsics in `vector16` and `lanes`, v3's and v4's entropy coders): edited alone, those would leave
every kernel built on them stale in the cache (the old machine code, silently). So a warm-up first drops the
codec's cached kernels whenever those sources changed since the last one (`clear_stale_kernels`).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

SHARED_MODULES = (
    "compiled.py",
    "vector16.py",
    "lanes.py",
    "entropy.py",
    "entropy_v4.py",
)  # inlined into other files' kernels
STAMP = "intrinsics.sha256"


def clear_stale_kernels(codec_dir: Path = Path(__file__).parent) -> bool:
    """Delete the cached kernels in `codec_dir/__pycache__` if the shared modules changed since the stamp there
    was written (then write it); returns whether it deleted them."""
    digest = hashlib.sha256(b"".join((codec_dir / name).read_bytes() for name in SHARED_MODULES)).hexdigest()
    cache = codec_dir / "__pycache__"
    stamp = cache / STAMP
    if stamp.exists() and stamp.read_text().strip() == digest:
        return False
    stale = [*cache.glob("*.nbi"), *cache.glob("*.nbc")] if cache.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    cache.mkdir(exist_ok=True)
    stamp.write_text(digest + "\n")
    return bool(stale)


def warm_up() -> float:
    """Encode and decode small images of every shape the kernels specialise on; returns the seconds it took."""
    clear_stale_kernels()
    from image_assets.codec import decode, encode, inspect

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:48, :72]
    smooth = ((x * 3 + y * 2) % 256)[..., None] + rng.integers(0, 16, (48, 72, 1))
    rgb = np.repeat(smooth, 3, axis=2).clip(0, 255).astype(np.uint8)
    rgb[:, :, 1] = rgb[:, :, 1][::-1]
    images = [rgb, rgb[:, :, 0].copy(), np.dstack([rgb, rgb[:, :, 0]]), np.dstack([rgb[:, :, 0], rgb[:, :, 1]])]
    for pixels in images:
        for options in ({"psnr": 35.0}, {"psnr": 48.0}, {"rank": 4}, {"max_bytes": 1500}):
            data = encode(pixels, **options)
            decode(data)
            inspect(data)
    for sample in sorted((Path(__file__).parent / "samples").glob("v*.svdz")):  # earlier formats' decoders too
        decode(sample.read_bytes())
    _warm_v3_stream_encoder()
    return time.perf_counter() - start


def _warm_v3_stream_encoder() -> None:
    """Format v3's stream encoder: files are written as v4, but tests and the fuzz corpus build v3 streams."""
    from image_assets.codec.entropy import PlaneEncoder

    ranks = np.array([2, 0, 1], np.int64)
    vectors = np.arange(48, dtype=np.int32).reshape(3, 16) - 20
    encoder = PlaneEncoder(ranks, 3, 16)
    encoder.add(ranks, vectors, vectors)
    encoder.finish()


def main() -> None:
    print(f"codec kernels compiled and cached in {warm_up():.1f} s")


if __name__ == "__main__":
    main()
