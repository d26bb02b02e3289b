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


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _gram(a, gram):
    """gram = A^T A (in gram's precision), as row updates that vectorise."""
    gram[:, :] = 0.0
    for r in range(a.shape[0]):
        for i in range(a.shape[1]):
            ari = a[r, i]
            for j in range(a.shape[1]):
                gram[i, j] += ari * a[r, j]


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
        _gram(a, gram)
        energy = 0.0
        for i in range(n):
            energy += float(gram[i, i])
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


# --- exact: every triplet of a tile ----------------------------------------------------------------------------
# Householder tridiagonalisation and the implicit QL method (tred2 / tql2 as in EISPACK and JAMA) on the float64
# Gram matrix: about a third of what LAPACK through numpy's batched eigh costs on 16 x 16 matrices, where the
# per-call overhead dominates.

QL_MAX_ITERATIONS = 64


@njit(cache=True, nogil=True)
def _tred2(v, d, e):
    """Reduce the symmetric matrix in `v` (n x n) to tridiagonal form: diagonal d, subdiagonal e, and the
    orthogonal transformation accumulated in v."""
    n = v.shape[0]
    for j in range(n):
        d[j] = v[n - 1, j]
    for i in range(n - 1, 0, -1):
        scale = 0.0
        h = 0.0
        for k in range(i):
            scale += abs(d[k])
        if scale == 0.0:
            e[i] = d[i - 1]
            for j in range(i):
                d[j] = v[i - 1, j]
                v[i, j] = 0.0
                v[j, i] = 0.0
        else:
            for k in range(i):
                d[k] /= scale
                h += d[k] * d[k]
            f = d[i - 1]
            g = math.sqrt(h)
            if f > 0:
                g = -g
            e[i] = scale * g
            h = h - f * g
            d[i - 1] = f - g
            for j in range(i):
                e[j] = 0.0
            for j in range(i):
                f = d[j]
                v[j, i] = f
                g = e[j] + v[j, j] * f
                for k in range(j + 1, i):
                    g += v[k, j] * d[k]
                    e[k] += v[k, j] * f
                e[j] = g
            f = 0.0
            for j in range(i):
                e[j] /= h
                f += e[j] * d[j]
            hh = f / (h + h)
            for j in range(i):
                e[j] -= hh * d[j]
            for j in range(i):
                f = d[j]
                g = e[j]
                for k in range(j, i):
                    v[k, j] -= f * e[k] + g * d[k]
                d[j] = v[i - 1, j]
                v[i, j] = 0.0
        d[i] = h
    for i in range(n - 1):
        v[n - 1, i] = v[i, i]
        v[i, i] = 1.0
        h = d[i + 1]
        if h != 0.0:
            for k in range(i + 1):
                d[k] = v[k, i + 1] / h
            for j in range(i + 1):
                g = 0.0
                for k in range(i + 1):
                    g += v[k, i + 1] * v[k, j]
                for k in range(i + 1):
                    v[k, j] -= g * d[k]
        for k in range(i + 1):
            v[k, i + 1] = 0.0
    for j in range(n):
        d[j] = v[n - 1, j]
        v[n - 1, j] = 0.0
    v[n - 1, n - 1] = 1.0
    e[0] = 0.0


@njit(cache=True, nogil=True, fastmath=True)
def _tql2(w, d, e):
    """Eigenvalues (into d) and eigenvectors (rows of w, the transpose of `_tred2`'s v) of the tridiagonal matrix
    from `_tred2`."""
    n = w.shape[0]
    for i in range(1, n):
        e[i - 1] = e[i]
    e[n - 1] = 0.0
    f = 0.0
    tst1 = 0.0
    eps = 2.0**-52
    for l in range(n):  # noqa: E741 - the algorithm's own name
        tst1 = max(tst1, abs(d[l]) + abs(e[l]))
        m = l
        while m < n - 1:
            if abs(e[m]) <= eps * tst1:
                break
            m += 1
        if m > l:
            for _ in range(QL_MAX_ITERATIONS):
                g = d[l]
                p = (d[l + 1] - g) / (2.0 * e[l])
                r = math.hypot(p, 1.0)
                if p < 0:
                    r = -r
                d[l] = e[l] / (p + r)
                d[l + 1] = e[l] * (p + r)
                dl1 = d[l + 1]
                h = g - d[l]
                for i in range(l + 2, n):
                    d[i] -= h
                f += h
                p = d[m]
                c = 1.0
                c2 = c
                c3 = c
                el1 = e[l + 1]
                s = 0.0
                s2 = 0.0
                for i in range(m - 1, l - 1, -1):
                    c3 = c2
                    c2 = c
                    s2 = s
                    g = c * e[i]
                    h = c * p
                    r = math.hypot(p, e[i])
                    e[i + 1] = s * r
                    s = e[i] / r
                    c = p / r
                    p = c * d[i] - s * g
                    d[i + 1] = h + s * (c * g + s * d[i])
                    for k in range(n):  # rows of the transposed vectors: contiguous, vectorises
                        h = w[i + 1, k]
                        w[i + 1, k] = s * w[i, k] + c * h
                        w[i, k] = c * w[i, k] - s * h
                p = -s * s2 * c3 * el1 * e[l] / dl1
                e[l] = s * p
                d[l] = c * p
                if abs(e[l]) <= eps * tst1:
                    break
        d[l] = d[l] + f
        e[l] = 0.0


@njit(cache=True, nogil=True)
def symmetric_eigen(a, values, vectors):
    """Eigen-decomposition of the symmetric float64 matrix `a`: values ascending, vectors as columns (a is kept)."""
    n = a.shape[0]
    e = np.empty(n)
    vectors[:, :] = a
    _tred2(vectors, values, e)
    rows = np.ascontiguousarray(vectors.T)
    _tql2(rows, values, e)
    vectors[:, :] = rows.T
    for i in range(n - 1):  # selection sort, ascending, with the vectors
        k = i
        for j in range(i + 1, n):
            if values[j] < values[k]:
                k = j
        if k != i:
            values[i], values[k] = values[k], values[i]
            for r in range(n):
                vectors[r, i], vectors[r, k] = vectors[r, k], vectors[r, i]


@njit(cache=True, nogil=True, fastmath=True)
def exact_tiles(tiles, u_out, s_out, vt_out):
    """Every triplet of every (m x n) tile with m >= n, from the eigen-decomposition of its float64 Gram matrix:
    U (T, m, n), s (T, n) descending, Vt (T, n, n). U columns of (numerically) zero singular values are zero."""
    count, m, n = tiles.shape
    gram = np.empty((n, n))
    a = np.empty((m, n))
    values = np.empty(n)
    vectors = np.empty((n, n))
    rows = np.empty((n, n))
    for t in range(count):
        a[:, :] = tiles[t]
        _gram(a, gram)
        symmetric_eigen(gram, values, vectors)
        rows[:, :] = vectors.T
        top = math.sqrt(max(values[n - 1], 0.0))
        for j in range(n):
            col = n - 1 - j
            sigma = math.sqrt(max(values[col], 0.0))
            s_out[t, j] = sigma
            for i in range(n):
                vt_out[t, j, i] = rows[col, i]
            keep = sigma > 1e-6 * max(top, 1e-30)
            inv = 1.0 / sigma if keep else 0.0
            for r in range(m):
                acc = 0.0
                if keep:
                    for i in range(n):
                        acc += a[r, i] * rows[col, i]
                u_out[t, r, j] = acc * inv
