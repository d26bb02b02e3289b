"""The encoder's colour transform: its compiled row kernels against the arithmetic they document, in numpy."""

from __future__ import annotations

import numpy as np
import pytest

from image_assets.codec.planes import _FORWARD32, YCC_WEIGHTS, PlaneSource
from image_assets.codec.tiles import to_tiles


def _plane(pixels: np.ndarray, index: int) -> np.ndarray:
    """sum_c coefs[c] * (pixel_c - 128) in float32, left to right."""
    half, coefs = np.float32(128.0), _FORWARD32[index]
    r, g, b = (pixels[:, :, c].astype(np.float32) - half for c in range(3))
    return r * coefs[0] + g * coefs[1] + b * coefs[2]


@pytest.mark.parametrize("shape", [(36, 24), (37, 23), (1, 1), (2, 5), (7, 1)])
def test_planes_are_the_documented_arithmetic_bit_for_bit(rgb_crop, shape):
    pixels = np.ascontiguousarray(rgb_crop[: shape[0], : shape[1]])
    source = PlaneSource(pixels, "ycbcr420")
    height, width = shape
    luma = _plane(pixels, 0)
    assert np.array_equal(source.rows(0, 0, height), luma)
    assert np.array_equal(source.all_tiles(0, 0, height, (16, 16)), to_tiles(luma, 16, 16))
    residual = 0.0
    for index in (1, 2):
        full = np.pad(_plane(pixels, index), ((0, height % 2), (0, width % 2)), mode="edge")
        a, b, c, d = full[0::2, 0::2], full[0::2, 1::2], full[1::2, 0::2], full[1::2, 1::2]
        mean = (a + b + c + d) * np.float32(0.25)  # the sum's order: row by row
        assert np.array_equal(source.rows(index, 0, mean.shape[0]), mean)
        deviation = (full - np.repeat(np.repeat(mean, 2, 0), 2, 1))[:height, :width].astype(np.float64)
        residual += float(YCC_WEIGHTS[index]) * float(np.sum(deviation**2))
    assert source.residual == pytest.approx(residual, rel=1e-7, abs=1e-9)  # summed in another order
