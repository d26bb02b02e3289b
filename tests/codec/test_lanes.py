"""The W-lane vector operations of the top-k kernel against numpy, over every block size and odd lengths."""

import numpy as np
import pytest
from numba import njit

from image_assets.codec import lanes
from image_assets.codec.lanes import W


@njit(cache=False)
def _product(out, x, y, rows, inner, cols):
    """out[r, c] = sum_t x[r, t] * y[t, c] per lane (arrays (.., .., W)), one `dots` call per row."""
    for r in range(rows):
        lanes.dots(out, r * cols * W, W, x, r * inner * W, W, y, 0, W, cols * W, inner, cols)


@njit(cache=False)
def _fixed_product(out, x, weights, inner, cols):
    """out[c] = sum_t weights[c, t] * x[t] per lane: one fixed matrix applied to every lane's vector."""
    lanes.weighted_dots(out, 0, W, x, 0, W, weights, 0, inner, 1, inner, cols)


@njit(cache=False)
def _gram_schmidt_step(z, factors, x, terms, count):
    lanes.subtract_combination(z, 0, factors, x, count * W, W, count, terms)


@pytest.mark.parametrize("inner", [1, 6, 7, 16])
@pytest.mark.parametrize("cols", [1, 2, 3, 4, 5, 9, 16])
def test_dots_is_a_matrix_product_in_every_lane(inner, cols):
    rng = np.random.default_rng(inner * 100 + cols)
    x = rng.standard_normal((3, inner, W)).astype(np.float32)
    y = rng.standard_normal((inner, cols, W)).astype(np.float32)
    out = np.full((3, cols, W), np.nan, np.float32)
    _product(out, x, y, 3, inner, cols)
    expected = np.einsum("rtl,tcl->rcl", x.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    wide = np.full((3, cols, W), np.nan)
    _product(wide, x, y, 3, inner, cols)  # float64 sums of the float32 products
    np.testing.assert_allclose(wide, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cols", [1, 4, 6, 16])
def test_weighted_dots_applies_one_matrix_to_every_lane(cols):
    rng = np.random.default_rng(cols)
    x = rng.standard_normal((16, W)).astype(np.float32)
    weights = rng.standard_normal((cols, 16)).astype(np.float32)
    out = np.empty((cols, W), np.float32)
    _fixed_product(out, x, weights, 16, cols)
    np.testing.assert_allclose(out, weights.astype(np.float64) @ x.astype(np.float64), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("terms", [0, 1, 5])
def test_subtract_combination_removes_each_lanes_own_projection(terms):
    rng = np.random.default_rng(terms)
    x = rng.standard_normal((max(terms, 1), 16, W)).astype(np.float32)
    factors = rng.standard_normal((max(terms, 1), W)).astype(np.float32)
    z = rng.standard_normal((16, W)).astype(np.float32)
    expected = z - np.einsum("pl,ptl->tl", factors[:terms], x[:terms])
    _gram_schmidt_step(z, factors, x, terms, 16)
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-5)


def test_a_jacobi_sweep_takes_every_pair_once_in_rounds_of_disjoint_pairs():
    from image_assets.codec.tilesvd import _sweep_order

    for k in range(2, 10):
        pairs = [tuple(p) for p in _sweep_order(k)]
        assert sorted(pairs) == [(p, q) for p in range(k) for q in range(p + 1, k)]
        assert all(p < q for p, q in pairs)
        rounds = [pairs[i : i + k // 2] for i in range(0, len(pairs), k // 2)] if k % 2 == 0 else []
        for group in rounds:  # even k: k/2 disjoint pairs a round, so no rotation waits on the one before
            assert len({i for pair in group for i in pair}) == 2 * len(group)
