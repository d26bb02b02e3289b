"""Leading singular triplets of many small tiles, compiled (numba): one tile at a time, all in cache.

For each tile A (m x n): the Gram matrix G = A^T A, two steps of subspace iteration on k vectors started from the
first k DCT-II vectors (the leading singular vectors of image tiles are smooth, so the start is already close),
then a Rayleigh-Ritz step (a k x k Jacobi eigen-solve in float64) for V, sigma, and U = A V / sigma. The energy
left outside the k triplets (the tile's energy minus their sigma^2, exact whatever the subspace) is what the
closed-form rate control needs; tiles where it could hold a triplet worth keeping are solved exactly later
(`analysis.refine`).

numpy's batched version of this spent most of its time in temporaries and Python-level loops over the k columns;
here a 16 x 16 tile with k = 6 takes a few microseconds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

JACOBI_SWEEPS = 5


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _orthonormalize(z, k, n):
    """Rows of z (k x n) made orthonormal in place by modified Gram-Schmidt, twice; a row that is numerically
    dependent on the previous ones becomes zero."""
    for j in range(k):
        start = np.float32(0.0)
        for i in range(n):
            start += z[j, i] * z[j, i]
        for _ in range(2):
            for p in range(j):
                dot = np.float32(0.0)
                for i in range(n):
                    dot += z[p, i] * z[j, i]
                for i in range(n):
                    z[j, i] -= dot * z[p, i]
        norm = np.float32(0.0)
        for i in range(n):
            norm += z[j, i] * z[j, i]
        norm = np.sqrt(norm)
        if norm > np.float32(1e-3) * np.sqrt(start) and norm > 0.0:
            inv = np.float32(1.0) / norm
            for i in range(n):
                z[j, i] *= inv
        else:
            for i in range(n):
                z[j, i] = 0.0


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _apply_gram(gram, z, gz, k, n):
    """gz = z G (rows of z times the symmetric G), as row updates that vectorise."""
    for j in range(k):
        for i in range(n):
            gz[j, i] = 0.0
        for p in range(n):
            zjp = z[j, p]
            for i in range(n):
                gz[j, i] += zjp * gram[p, i]


@njit(cache=True, nogil=True, inline="always")
def _jacobi(h, vec, k):
    """Eigen-decomposition of the symmetric k x k float64 matrix h in place (cyclic Jacobi): eigenvalues end on the
    diagonal, eigenvectors in the columns of vec."""
    for i in range(k):
        for j in range(k):
            vec[i, j] = 1.0 if i == j else 0.0
    for _ in range(JACOBI_SWEEPS):
        off, diag = 0.0, 0.0
        for p in range(k):
            diag += h[p, p] * h[p, p]
            for q in range(p + 1, k):
                off += h[p, q] * h[p, q]
        if off <= 1e-18 * diag:  # float32 data: eigenvalues are settled far below its precision
            break
        for p in range(k - 1):
            for q in range(p + 1, k):
                apq = h[p, q]
                if abs(apq) <= 1e-10 * math.sqrt(abs(h[p, p] * h[q, q])) or abs(apq) <= 1e-300:
                    continue
                theta = (h[q, q] - h[p, p]) / (2.0 * apq)
                t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for r in range(k):
                    hrp, hrq = h[r, p], h[r, q]
                    h[r, p] = c * hrp - s * hrq
                    h[r, q] = s * hrp + c * hrq
                for r in range(k):
                    hpr, hqr = h[p, r], h[q, r]
                    h[p, r] = c * hpr - s * hqr
                    h[q, r] = s * hpr + c * hqr
                for r in range(k):
                    vrp, vrq = vec[r, p], vec[r, q]
                    vec[r, p] = c * vrp - s * vrq
                    vec[r, q] = s * vrp + c * vrq


@njit(cache=True, nogil=True, fastmath=True)
def topk_tiles(tiles, k, power, start, u_out, s_out, vt_out, tail_out):
    """Leading k triplets of every (m x n) tile; `start` is the k x n start basis (rows). Outputs: U (T, m, k),
    s (T, k), Vt (T, k, n) (zero where a tile has fewer than k nonzero triplets) and the energy outside them."""
    count, m, n = tiles.shape
    gram = np.empty((n, n), np.float32)
    z = np.empty((k, n), np.float32)
    gz = np.empty((k, n), np.float32)
    h = np.empty((k, k), np.float64)
    vec = np.empty((k, k), np.float64)
    v = np.empty((k, n), np.float32)
    order = np.empty(k, np.int64)
    lam = np.empty(k, np.float64)
    for t in range(count):
        a = tiles[t]
        energy = 0.0
        gram[:, :] = 0.0
        for r in range(m):
            for i in range(n):
                ari = a[r, i]
                energy += float(ari) * float(ari)
                for j in range(n):
                    gram[i, j] += ari * a[r, j]
        z[:, :] = start
        for _ in range(power):
            _apply_gram(gram, z, gz, k, n)
            z[:, :] = gz
            _orthonormalize(z, k, n)
        _apply_gram(gram, z, gz, k, n)  # Rayleigh-Ritz: h = Z G Z^T in float64
        for p in range(k):
            for q in range(p, k):
                acc = 0.0
                for i in range(n):
                    acc += float(z[p, i]) * float(gz[q, i])
                h[p, q] = acc
                h[q, p] = acc
        _jacobi(h, vec, k)
        for j in range(k):
            lam[j] = h[j, j]
            order[j] = j
        for i in range(1, k):  # insertion sort, descending
            j = i
            while j > 0 and lam[order[j]] > lam[order[j - 1]]:
                order[j], order[j - 1] = order[j - 1], order[j]
                j -= 1
        kept = 0.0
        top = math.sqrt(max(lam[order[0]], 0.0))
        for j in range(k):
            col = order[j]
            sigma = math.sqrt(max(lam[col], 0.0))
            for i in range(n):
                v[j, i] = 0.0
            for p in range(k):
                w = np.float32(vec[p, col])
                for i in range(n):
                    v[j, i] += w * z[p, i]
            if sigma > 1e-6 * max(top, 1e-30):
                s_out[t, j] = sigma
                kept += sigma * sigma
                inv = np.float32(1.0 / sigma)
                for i in range(n):
                    vt_out[t, j, i] = v[j, i]
                for r in range(m):
                    acc32 = np.float32(0.0)
                    for i in range(n):
                        acc32 += a[r, i] * v[j, i]
                    u_out[t, r, j] = acc32 * inv
            else:
                s_out[t, j] = 0.0
                for i in range(n):
                    vt_out[t, j, i] = 0.0
                for r in range(m):
                    u_out[t, r, j] = 0.0
        tail_out[t] = max(energy - kept, 0.0)


def dct_start(n: int, k: int) -> np.ndarray:
    """The first k orthonormal DCT-II vectors of length n (n x k, float32)."""
    i, f = np.arange(n)[:, None], np.arange(k)[None, :]
    b = np.cos(np.pi * (i + 0.5) * f / n)
    return (b / np.linalg.norm(b, axis=0)).astype(np.float32)


def topk(tiles: np.ndarray, k: int, power: int = 2) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """(U (T, m, k), s (T, k), Vt (T, k, n)) and tail energies (T,) of a (T, m, n) float32 stack."""
    count, m, n = tiles.shape
    k = min(k, m, n)
    a = np.ascontiguousarray(tiles, dtype=np.float32)
    u = np.empty((count, m, k), np.float32)
    s = np.empty((count, k), np.float32)
    vt = np.empty((count, k, n), np.float32)
    tail = np.empty(count, np.float64)
    topk_tiles(a, k, power, np.ascontiguousarray(dct_start(n, k).T), u, s, vt, tail)
    return (u, s, vt), tail
