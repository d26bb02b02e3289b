"""Truncated SVD kernels in float32: exact LAPACK for small matrices, randomized (Halko-Martinsson-Tropp)
for large ones, and a batched Gram-matrix path for many small tiles.

`numpy.linalg` computes in float64 whatever the input, so the single-matrix paths use `scipy.linalg`.
Never `full_matrices=True`: the unused singular vectors cost time and memory for nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg as sla

from image_assets.codec import tilesvd

Triplets = tuple[np.ndarray, np.ndarray, np.ndarray]

EXACT_MAX_DIM = 400  # below this (smaller side) gesdd beats the randomized method
EXACT_RANK_FRACTION = 0.25  # a rank above this fraction of the smaller side is cheaper exactly


def exact_svd(a: np.ndarray) -> Triplets:
    """Thin SVD of one matrix with LAPACK gesdd in the input's precision."""
    return sla.svd(a, full_matrices=False, lapack_driver="gesdd", check_finite=False)


def randomized_svd(a: np.ndarray, rank: int, *, oversample: int = 10, power_iters: int = 2, seed: int = 0) -> Triplets:
    """Rank-`rank` approximation by a randomized range finder with power iterations (HMT 2011, alg. 4.4).

    Work is dominated by tall-skinny GEMMs (A @ Omega, A.T @ Q), which run near the BLAS peak.
    """
    m, n = a.shape
    transpose = m < n
    if transpose:
        a = a.T
        m, n = n, m
    k = min(n, rank + oversample)
    omega = np.random.default_rng(seed).standard_normal((n, k), dtype=np.float32)
    q, _ = sla.qr(a @ omega, mode="economic", check_finite=False, overwrite_a=True)
    for _ in range(power_iters):
        z, _ = sla.qr(a.T @ q, mode="economic", check_finite=False, overwrite_a=True)
        q, _ = sla.qr(a @ z, mode="economic", check_finite=False, overwrite_a=True)
    ub, s, vt = exact_svd(q.T @ a)
    u = q @ ub[:, :rank]
    s, vt = s[:rank], vt[:rank]
    return (vt.T, s, u.T) if transpose else (u, s, vt)


def truncated_svd(a: np.ndarray, rank: int) -> Triplets:
    """The leading `rank` triplets, by whichever method is faster for this shape."""
    small = min(a.shape)
    rank = min(rank, small)
    if small <= EXACT_MAX_DIM or rank > EXACT_RANK_FRACTION * small:
        u, s, vt = exact_svd(a)
        return u[:, :rank], s[:rank], vt[:rank]
    return randomized_svd(a, rank)


def svd_until(a: np.ndarray, enough: Callable[[np.ndarray], bool], start_rank: int = 32) -> Triplets:
    """Grow the rank geometrically until `enough(singular_values)` holds or the SVD is complete."""
    small = min(a.shape)
    rank = min(start_rank, small)
    while True:
        u, s, vt = truncated_svd(a, rank)
        if rank >= small or enough(s):
            return u, s, vt
        rank = min(small, rank * 2)


GRAM_CHUNK = 256  # tiles per float64 Gram/eigh batch: bounds its temporaries (~3 MB), same results


def batched_tile_svd(tiles: np.ndarray) -> Triplets:
    """All triplets of every tile in a (T, m, n) stack: U (T, m, k), s (T, k), Vt (T, k, n), k = min(m, n).

    Eigen-decomposes the small Gram matrices in one gufunc call per chunk instead of T Python-level SVD
    calls; the float64 Gram keeps the squared singular values accurate far below the error budget.
    """
    if len(tiles) == 1:
        u, s, vt = exact_svd(tiles[0])
        return u[None], s[None], vt[None]
    return gram_tile_svd(tiles)


def gram_tile_svd(tiles: np.ndarray) -> Triplets:
    """`batched_tile_svd`'s eigen path for any number of tiles (one included), a chunk at a time: every
    tile's result depends on that tile alone, so chunking changes no bit."""
    count, m, n = tiles.shape
    k = min(m, n)
    u = np.empty((count, m, k), np.float32)
    s = np.empty((count, k), np.float32)
    vt = np.empty((count, k, n), np.float32)
    for start in range(0, count, GRAM_CHUNK):
        stop = min(start + GRAM_CHUNK, count)
        u[start:stop], s[start:stop], vt[start:stop] = _gram_chunk(tiles[start:stop])
    return u, s, vt


def _gram_chunk(tiles: np.ndarray) -> Triplets:
    _count, m, n = tiles.shape
    flip = m < n
    a = tiles.transpose(0, 2, 1) if flip else tiles
    a64 = a.astype(np.float64)
    gram = np.matmul(a64.transpose(0, 2, 1), a64)
    lam, v = np.linalg.eigh(gram)
    del gram
    lam, v = lam[:, ::-1], v[:, :, ::-1]
    s = np.sqrt(np.maximum(lam, 0.0))
    safe = np.where(s > 1e-6 * np.maximum(s[:, :1], 1e-30), s, np.inf)
    u = (np.matmul(a64, v) / safe[:, None, :]).astype(np.float32)
    s32, vt = s.astype(np.float32), np.ascontiguousarray(v.transpose(0, 2, 1)).astype(np.float32)
    if flip:
        return vt.transpose(0, 2, 1), s32, u.transpose(0, 2, 1)
    return u, s32, vt


def topk_tile_svd(tiles: np.ndarray, k: int = 4, power: int = 2) -> tuple[Triplets, np.ndarray]:
    """Leading k triplets of every tile by subspace iteration from a DCT start and a Rayleigh-Ritz step,
    all as batched float32 products (fast for many small tiles, unlike one LAPACK call per tile).

    Returns triplets in `batched_tile_svd`'s shapes (singular values beyond k are 0, vectors 0) and the
    energy left outside the k found triplets per tile (an upper bound on sigma_{k+1}^2)."""
    count, m, n = tiles.shape
    (u, s, vt), tail = topk_compact(tiles, k, power)
    k = s.shape[1]
    full = min(m, n)
    u_out = np.zeros((count, m, full), np.float32)
    s_out = np.zeros((count, full), np.float32)
    vt_out = np.zeros((count, full, n), np.float32)
    u_out[:, :, :k], s_out[:, :k], vt_out[:, :k, :] = u, s, vt
    return (u_out, s_out, vt_out), tail


def topk_compact(tiles: np.ndarray, k: int = 4, power: int = 2) -> tuple[Triplets, np.ndarray]:
    """`topk_tile_svd` without the zero padding: U (T, m, k), s (T, k), Vt (T, k, n) and the tail energies.
    Every tile's result depends on that tile alone (any batch of tiles gives the same bits); compiled, see
    `tilesvd.py`."""
    return tilesvd.topk(tiles, k, power)
