"""The 16x16 tile kernels written as LLVM vector IR (`vector16`) against format v3's arithmetic spelled out in
numpy: the same float32 products and sums in the same order, so the decoded bits must match exactly."""

import math

import numpy as np
import pytest
from numba import njit

from image_assets.codec import kernels
from image_assets.codec.vector16 import EXACT_LIMIT, count_at_or_below, move_towards, vector_stats16


def reference_tiles(ranks, qu, qv, step, basis, per_row, shape):
    """Format v3's reconstruction, one numpy float32 operation at a time (see FORMAT.md)."""
    out = np.zeros(shape, np.float32)
    row = 0
    for t, rank in enumerate(ranks):
        acc = np.zeros((16, 16), np.float32)
        for _ in range(rank):
            u_q, v_q = qu[row], qv[row]
            row += 1
            nu = nv = 0.0
            for x in u_q:
                nu += float(x) * float(x)
            for x in v_q:
                nv += float(x) * float(x)
            norm = math.sqrt(math.sqrt(nu) * math.sqrt(nv))
            if norm == 0.0:
                continue
            c = np.float32(step / norm)
            u = np.zeros(16, np.float32)
            v = np.zeros(16, np.float32)
            for k in range(16):
                u += (np.float32(u_q[k]) * c) * basis[k]
                v += np.float32(v_q[k]) * basis[k]
            for a in range(16):
                acc[a] += u[a] * v
        y0, x0 = (t // per_row) * 16, (t % per_row) * 16
        h, w = min(16, shape[0] - y0), min(16, shape[1] - x0)
        out[y0 : y0 + h, x0 : x0 + w] = acc[:h, :w]
    return out


@pytest.mark.parametrize("shape", [(32, 48), (40, 37)])  # whole tiles, and tiles cropped at the edges
def test_tiles_match_the_formats_arithmetic_bit_for_bit(shape):
    rng = np.random.default_rng(shape[1])
    per_row = -(-shape[1] // 16)
    count = -(-shape[0] // 16) * per_row
    ranks = rng.integers(0, 5, count)
    rows = int(ranks.sum())
    decay = np.exp(-np.arange(16) / 3.0)
    qu = np.rint(rng.laplace(0, 6, (rows, 16)) * decay).astype(np.int32)
    qv = np.rint(rng.laplace(0, 6, (rows, 16)) * decay).astype(np.int32)
    qu[::4, 12:] = 0  # vectors of every length, zero ones too
    qv[1::5] = 0
    qu[2::7, 0] = EXACT_LIMIT + 1  # magnitudes where integer sums of squares could stop matching float64's
    qv[3::9, 15] = -(2**30)
    basis = kernels.dct_basis(16)
    got = np.full(shape, np.nan, np.float32)
    assert kernels.tiles_to_plane(ranks, qu, qv, 0.73, basis, basis, per_row, got) == rows
    want = reference_tiles(ranks, qu, qv, 0.73, basis, per_row, shape)
    assert np.array_equal(got.view(np.int32), want.view(np.int32))


@njit
def _stats(q, row):
    return vector_stats16(q, row)


def test_vector_stats():
    rng = np.random.default_rng(1)
    q = rng.integers(-300, 300, (50, 16)).astype(np.int32)
    q[rng.random(q.shape) < 0.5] = 0
    q[5] = 0
    q[6, 15] = -(2**31 - 1)  # the largest magnitude a stream can carry
    q[7, :3] = EXACT_LIMIT
    for row in range(q.shape[0]):
        squares, length, exact = _stats(q, row)
        nonzero = np.flatnonzero(q[row])
        assert length == (nonzero[-1] + 1 if nonzero.size else 0)
        assert exact == int(np.abs(q[row].astype(np.int64)).max() <= EXACT_LIMIT)
        if exact:
            assert squares == int((q[row].astype(np.int64) ** 2).sum())


@njit
def _search_and_learn(table, letters, shift, total, searched, scale, code):
    for n in range(letters.size):
        searched[n] = count_at_or_below(table, 0, code[n], scale)
        move_towards(table, 0, letters[n], shift, total)


def test_alphabet_lanes_match_their_scalar_definitions():
    rng = np.random.default_rng(2)
    total = (1 << 15) - 16
    table = ((total * np.arange(16)) // 16).astype(np.int32)
    want = table.astype(np.int64)
    letters = rng.integers(0, 16, 300)
    codes = rng.integers(0, 1 << 32, 300)
    got = np.empty(300, np.int64)
    scale = 3  # products stay below 2**32
    _search_and_learn(table, letters, 4, total, got, scale, codes)
    for n, letter in enumerate(letters):
        assert got[n] == sum(scale * (want[i] + i) <= codes[n] for i in range(16))
        target = np.where(np.arange(16) > letter, total, 0)
        want = want + ((target - want) >> 4)  # numpy's >> on negatives rounds down, as LLVM's ashr
    assert np.array_equal(table, want)


def test_quantize16_rounds_as_the_scalar_quantiser_does():
    """A 16x16 tile's vectors quantised as vector IR: the format's rounding (float32 product, clamp to 2**30, round
    half to even) bit for bit, from a strided column (U's) and a contiguous row (V^T's)."""
    from image_assets.codec.vector16 import quantize16

    @njit(cache=False)
    def both(u, vt, t, j, scale, qu, qv):
        m, k, n = u.shape[1], u.shape[2], vt.shape[2]
        quantize16(u, (t * m) * k + j, k, scale, qu)
        quantize16(vt, (t * k + j) * n, 1, scale, qv)

    rng = np.random.default_rng(4)
    u = rng.standard_normal((3, 16, 5)).astype(np.float32)
    vt = rng.standard_normal((3, 5, 16)).astype(np.float32)
    u[1, :4, 2] = [0.5, 1.5, -2.5, 1e9]  # halves round to even; a huge value is clamped
    vt[1, 2, :3] = [-0.5, 3.5, -1e9]
    for scale in (np.float32(7.3), np.float32(-0.9), np.float32(1.0)):
        qu, qv = np.empty(16, np.int32), np.empty(16, np.int32)
        both(u, vt, 1, 2, scale, qu, qv)
        for got, column in ((qu, u[1, :, 2]), (qv, vt[1, 2, :])):
            expected = [np.int32(np.rint(min(max(x * scale, -kernels.LIMIT), kernels.LIMIT))) for x in column]
            assert got.tolist() == [int(x) for x in expected]
