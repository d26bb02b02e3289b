"""Truncated SVD kernels in float32: exact LAPACK for small matrices, randomized (Halko-Martinsson-Tropp)
for large ones, and a batched Gram-matrix path for many small tiles.

`numpy.linalg` computes in float64 whatever the input, so the single-matrix paths use `scipy.linalg`.
Never `full_matrices=True`: the unused singular vectors cost time and memory for nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg as sla

Triplets = tuple[np.ndarray, np.ndarray, np.ndarray]

EXACT_MAX_DIM = 400  # below this (smaller side) gesdd beats the randomized method
EXACT_RANK_FRACTION = 0.25  # a rank above this fraction of the smaller side is cheaper exactly


def exact_svd(a: np.ndarray) -> Triplets:
    """Thin SVD of one matrix with LAPACK gesdd in the input's precision."""
    return sla.svd(a, full_matrices=False, lapack_driver="gesdd", check_finite=False)


def randomized_svd(
    a: np.ndarray, rank: int, *, oversample: int = 10, power_iters: int = 2, seed: int = 0
) -> Triplets:
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


def batched_tile_svd(tiles: np.ndarray) -> Triplets:
    """All triplets of every tile in a (T, m, n) stack: U (T, m, k), s (T, k), Vt (T, k, n), k = min(m, n).

    Eigen-decomposes the small Gram matrices in one gufunc call instead of T Python-level SVD calls;
    the float64 Gram keeps the squared singular values accurate far below the error budget.
    """
    count, m, n = tiles.shape
    if count == 1:
        u, s, vt = exact_svd(tiles[0])
        return u[None], s[None], vt[None]
    flip = m < n
    a = tiles.transpose(0, 2, 1) if flip else tiles
    a64 = a.astype(np.float64)
    gram = np.matmul(a64.transpose(0, 2, 1), a64)
    lam, v = np.linalg.eigh(gram)
    lam, v = lam[:, ::-1], v[:, :, ::-1]
    s = np.sqrt(np.maximum(lam, 0.0))
    safe = np.where(s > 1e-6 * np.maximum(s[:, :1], 1e-30), s, np.inf)
    u = (np.matmul(a64, v) / safe[:, None, :]).astype(np.float32)
    s32, vt = s.astype(np.float32), np.ascontiguousarray(v.transpose(0, 2, 1)).astype(np.float32)
    if flip:
        return np.ascontiguousarray(vt.transpose(0, 2, 1)), s32, np.ascontiguousarray(u.transpose(0, 2, 1))
    return u, s32, vt
