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


def test_chroma_on_two_threads_is_the_same_bits(rgb_crop, monkeypatch):
    """The chroma planes and their replication error are computed in row strips that threads share out; the strips
    and the order their errors are added in must not depend on the thread count (the error feeds rate control)."""
    from image_assets.codec import planes
    from image_assets.codec.threads import codec_threads

    monkeypatch.setattr(planes, "CHROMA_STRIP_ROWS", 5)  # several strips, the last one short
    pixels = np.ascontiguousarray(np.tile(rgb_crop, (2, 1, 1))[:, :47])
    one = PlaneSource(pixels, "ycbcr420")
    with codec_threads(2):
        two = PlaneSource(pixels, "ycbcr420")
    assert one.residual == two.residual > 0
    for index in (1, 2):
        assert np.array_equal(one.rows(index, 0, pixels.shape[0] // 2), two.rows(index, 0, pixels.shape[0] // 2))
    monkeypatch.setattr(planes, "CHROMA_STRIP_ROWS", 10_000)  # one strip: the error added in the same order
    assert PlaneSource(pixels, "ycbcr420").residual == one.residual


def test_ranks_count_the_values_at_or_above_the_threshold():
    """`kernels.count_at_least` (a step's ranks) against numpy, at thresholds on, between and beyond the values."""
    from image_assets.codec import kernels

    s = -np.sort(-np.random.default_rng(5).exponential(4.0, (300, 16)).astype(np.float32), axis=1)
    s[::7, 9:] = 0.0
    out = np.empty(s.shape[0], np.int64)
    for threshold in (0.0, float(s[3, 4]), float(np.nextafter(s[3, 4], np.float32(1e9))), 2.5, 1e9):
        kernels.count_at_least(s, threshold, out)
        assert np.array_equal(out, (s >= threshold).sum(axis=1))
