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


def batched_tile_svd(tiles: np.ndarray) -> Triplets:
    """All triplets of every tile in a (T, m, n) stack: U (T, m, k), s (T, k), Vt (T, k, n), k = min(m, n).

    One LAPACK gesdd for a single tile; many small tiles go through `exact_tile_svd`'s compiled path instead of T
    Python-level SVD calls."""
    if len(tiles) == 1:
        u, s, vt = exact_svd(tiles[0])
        return u[None], s[None], vt[None]
    return exact_tile_svd(tiles)


def exact_tile_svd(tiles: np.ndarray, *, dct: bool = False) -> Triplets:
    """`batched_tile_svd`'s compiled path for any number of tiles (one included): one-sided Jacobi on each tile,
    `tilesvd.exact_tiles` (every tile's result depends on that tile alone). With `dct`, the vectors' orthonormal
    DCT-II (what format v3 stores) instead of the vectors."""
    from image_assets.codec import (
        tilesvd,
    )  # compiled (numba): imported on first use, so processes that only load definitions skip ~1 s
    from image_assets.codec.kernels import dct_basis

    count, m, n = tiles.shape
    flip = m < n
    a = np.ascontiguousarray(tiles.transpose(0, 2, 1) if flip else tiles, dtype=np.float32)
    rows, cols = a.shape[1], a.shape[2]
    u = np.empty((count, rows, cols), np.float32)
    s = np.empty((count, cols), np.float32)
    vt = np.empty((count, cols, cols), np.float32)
    basis_rows, basis_cols = (dct_basis(size) if dct else np.eye(size, dtype=np.float32) for size in (rows, cols))
    tilesvd.exact_tiles(a, dct_basis(cols), basis_rows, basis_cols, u, s, vt)
    if flip:
        return np.ascontiguousarray(vt.transpose(0, 2, 1)), s, np.ascontiguousarray(u.transpose(0, 2, 1))
    return u, s, vt


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


def topk_compact(
    tiles: np.ndarray, k: int = 4, power: int = 2, *, dct: bool = False, energy: np.ndarray | None = None
) -> tuple[Triplets, np.ndarray]:
    """`topk_tile_svd` without the zero padding: U (T, m, k), s (T, k), Vt (T, k, n) and the tail energies (with
    `dct`, the vectors' DCT-II, as format v3 stores them; `energy`, if given, gets each tile's energy). Every
    tile's result depends on that tile alone (any batch of tiles gives the same bits); compiled, see
    `tilesvd.py`."""
    from image_assets.codec import tilesvd

    return tilesvd.topk(tiles, k, power, dct=dct, energy=energy)
