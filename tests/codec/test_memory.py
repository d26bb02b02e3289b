"""An encode's memory is bounded per pixel whatever the image: a review measured a flat single-colour PNG at
~77 bytes per pixel, noise took ~150. docs/codec.md states the bound; benchmarks/memory.py measures it up to
6000x6000 in fresh processes, with the resident set too."""

from __future__ import annotations

import gc
import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from image_assets.codec import RankPolicy, compress_image, encode_pixels

BOUND = 32  # bytes per pixel (docs/codec.md)
HEIGHT, WIDTH = 1250, 1600  # 2 MP: large enough that fixed costs (band buffers, imports) are a small share


def _image(kind: str) -> np.ndarray:
    if kind == "flat":
        pixels = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        pixels[:] = (200, 120, 40)
        return pixels
    channels = 4 if kind == "noise-rgba" else 3
    return np.random.default_rng(5).integers(0, 256, (HEIGHT, WIDTH, channels), dtype=np.uint8)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _traced_peak(encode) -> int:
    """Peak bytes numpy and Python allocated during `encode()`, over what was allocated before it."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        encode()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        if started:
            tracemalloc.stop()


@pytest.mark.parametrize("kind", ["flat", "noise", "noise-rgba"])
def test_encode_peak_memory_per_pixel(kind):
    """From PNG bytes, as `imgpipe compress` and the pipeline encode (decoded pixels included): flat is the
    reviewed case (every tile exact, eight trials), noise the worst (4:4:4, all 16 triplets of every tile, so the
    factors outgrow their budget and are recomputed band by band), RGBA noise with four such planes (format v4's
    first writer held every plane's block records and copies of the streams: 38 bytes per pixel)."""
    encode_pixels(_image(kind)[:48, :64], RankPolicy())  # lazy imports and caches are not the encode's
    data = _png(_image(kind))
    peak = _traced_peak(lambda: compress_image(data, RankPolicy()))
    assert peak / (HEIGHT * WIDTH) <= BOUND, f"{peak / (HEIGHT * WIDTH):.1f} bytes per pixel"
