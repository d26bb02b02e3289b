"""Leading singular triplets of many small tiles, compiled (numba), LANES tiles side by side.

For each tile A (m x n): the Gram matrix G = A^T A, two steps of subspace iteration on k vectors started from the
first k DCT-II vectors (the leading singular vectors of image tiles are smooth, so the start is already close),
then a Rayleigh-Ritz step (a k x k Jacobi eigen-solve in float64) for V, sigma, and U = A V / sigma. The energy
left outside the k triplets (the tile's energy minus their sigma^2, exact whatever the subspace) is what the
closed-form rate control needs; tiles where it could hold a triplet worth keeping are solved exactly later
(`analysis.refine`).

Why lanes: one 16 x 16 tile's loops are 16 long, too short for LLVM to vectorise, and its dot products are
reductions across a vector. With the tile index innermost (arrays [.., lane], LANES = 64 tiles at a time) every
step is the same scalar algorithm run on 64 tiles in vector registers, with no reductions across lanes (1080p luma,
k = 6: 4.5 -> 3.0 us per tile against one tile at a time, with the vectors' DCT now done here as well). Branches
become per-lane selects (a lane whose Jacobi has converged stops rotating), so every tile's result depends on that
tile alone, whatever its neighbours in the batch (threads split batches differently and must give the same bytes).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from image_assets.codec.kernels import dct_basis

JACOBI_SWEEPS = 5
LANES = 64  # tiles per batch: long enough for LLVM's loop vectoriser (at 8-32 it left the loops scalar)


@njit(cache=True, nogil=True, inline="always")
def _gather_lanes(tiles, first, count, a):
    """a[r, i, l] = tiles[first + l, r, i] for the `count` tiles of this batch; zeros in the lanes after them."""
    if count < LANES:
        a[:, :, :] = 0.0
    for lane in range(count):
        tile = tiles[first + lane]
        for r in range(a.shape[0]):
            for i in range(a.shape[1]):
                a[r, i, lane] = tile[r, i]


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _gram_lanes(a, gram):
    """gram = A^T A per lane (upper triangle computed, mirrored)."""
    m, n, _ = a.shape
    for i in range(n):
        for j in range(i, n):
            for lane in range(LANES):
                gram[i, j, lane] = 0.0
            for r in range(m):
                for lane in range(LANES):
                    gram[i, j, lane] += a[r, i, lane] * a[r, j, lane]
            for lane in range(LANES):
                gram[j, i, lane] = gram[i, j, lane]


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _apply_gram_lanes(gram, z, gz, k):
    """gz = z G per lane (rows of z times the symmetric G)."""
    n = gram.shape[0]
    for j in range(k):
        for i in range(n):
            for lane in range(LANES):
                gz[j, i, lane] = 0.0
        for p in range(n):
            for i in range(n):
                for lane in range(LANES):
                    gz[j, i, lane] += z[j, p, lane] * gram[p, i, lane]


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _orthonormalize_lanes(z, k, dot, start):
    """Rows of z (k x n per lane) made orthonormal by modified Gram-Schmidt, twice; a row that is numerically
    dependent on the previous ones becomes zero."""
    n = z.shape[1]
    for j in range(k):
        for lane in range(LANES):
            start[lane] = 0.0
        for i in range(n):
            for lane in range(LANES):
                start[lane] += z[j, i, lane] * z[j, i, lane]
        for _ in range(2):
            for p in range(j):
                for lane in range(LANES):
                    dot[lane] = 0.0
                for i in range(n):
                    for lane in range(LANES):
                        dot[lane] += z[p, i, lane] * z[j, i, lane]
                for i in range(n):
                    for lane in range(LANES):
                        z[j, i, lane] -= dot[lane] * z[p, i, lane]
        for lane in range(LANES):
            dot[lane] = 0.0
        for i in range(n):
            for lane in range(LANES):
                dot[lane] += z[j, i, lane] * z[j, i, lane]
        for lane in range(LANES):
            norm = np.sqrt(dot[lane])
            keep = (norm > np.float32(1e-3) * np.sqrt(start[lane])) & (norm > 0.0)
            dot[lane] = np.float32(1.0) / norm if keep else np.float32(0.0)
        for i in range(n):
            for lane in range(LANES):
                z[j, i, lane] *= dot[lane]


@njit(cache=True, nogil=True, inline="always")
def _jacobi_lanes(h, vec, k, active, c, s):
    """Eigen-decomposition of each lane's symmetric k x k float64 matrix h in place (cyclic Jacobi): eigenvalues end
    on the diagonal, eigenvectors in the columns of vec. A lane stops rotating once its off-diagonal part is
    settled (as it would alone); the sweeps end when every lane has."""
    for i in range(k):
        for j in range(k):
            for lane in range(LANES):
                vec[i, j, lane] = 1.0 if i == j else 0.0
    for _ in range(JACOBI_SWEEPS):
        for lane in range(LANES):
            c[lane], s[lane] = 0.0, 0.0  # off-diagonal and diagonal sums of squares
        for p in range(k):
            for lane in range(LANES):
                s[lane] += h[p, p, lane] * h[p, p, lane]
            for q in range(p + 1, k):
                for lane in range(LANES):
                    c[lane] += h[p, q, lane] * h[p, q, lane]
        for lane in range(LANES):  # float32 data: settled far below its precision
            active[lane] = 1.0 if c[lane] > 1e-18 * s[lane] else 0.0
        if active.max() == 0.0:
            break
        for p in range(k - 1):
            for q in range(p + 1, k):
                for lane in range(LANES):
                    apq = h[p, q, lane]
                    skip = (  # bitwise, not `or`: no branches, so the lanes stay in vector registers
                        (active[lane] == 0.0)
                        | (abs(apq) <= 1e-10 * math.sqrt(abs(h[p, p, lane] * h[q, q, lane])))
                        | (abs(apq) <= 1e-300)
                    )
                    theta = (h[q, q, lane] - h[p, p, lane]) / (2.0 * (1.0 if skip else apq))
                    t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                    cosine = 1.0 / math.sqrt(t * t + 1.0)
                    c[lane] = 1.0 if skip else cosine
                    s[lane] = 0.0 if skip else t * cosine
                for r in range(k):
                    for lane in range(LANES):
                        hrp, hrq = h[r, p, lane], h[r, q, lane]
                        h[r, p, lane] = c[lane] * hrp - s[lane] * hrq
                        h[r, q, lane] = s[lane] * hrp + c[lane] * hrq
                for r in range(k):
                    for lane in range(LANES):
                        hpr, hqr = h[p, r, lane], h[q, r, lane]
                        h[p, r, lane] = c[lane] * hpr - s[lane] * hqr
                        h[q, r, lane] = s[lane] * hpr + c[lane] * hqr
                for r in range(k):
                    for lane in range(LANES):
                        vrp, vrq = vec[r, p, lane], vec[r, q, lane]
                        vec[r, p, lane] = c[lane] * vrp - s[lane] * vrq
                        vec[r, q, lane] = s[lane] * vrp + c[lane] * vrq


@njit(cache=True, nogil=True, error_model="numpy", fastmath=True)
def topk_tiles(tiles, k, power, start, basis_m, basis_n, u_out, s_out, vt_out, tail_out, energy_out):
    """Leading k triplets of every (m x n) tile; `start` is the k x n start basis (rows). Outputs: U (T, m, k),
    s (T, k), Vt (T, k, n) (zero where a tile has fewer than k nonzero triplets) and the energy outside them. The
    vectors are stored transformed by `basis_m` (m x m) and `basis_n` (n x n): U <- B_m U, Vt <- Vt B_n^T (the
    DCT-II matrices give the vectors as format v3 stores them; identities give them as they are). `energy_out`
    gets each tile's energy (sum of squares, float64)."""
    count, m, n = tiles.shape
    a = np.empty((m, n, LANES), np.float32)
    gram = np.empty((n, n, LANES), np.float32)
    z = np.empty((k, n, LANES), np.float32)
    gz = np.empty((k, n, LANES), np.float32)
    h = np.empty((k, k, LANES), np.float64)
    vec = np.empty((k, k, LANES), np.float64)
    v = np.empty((k, n, LANES), np.float32)
    u = np.empty((m, k, LANES), np.float32)
    out_u = np.empty((m, k, LANES), np.float32)
    out_v = np.empty((k, n, LANES), np.float32)
    sigma = np.empty((k, LANES), np.float64)
    energy = np.empty(LANES, np.float64)
    dot = np.empty(LANES, np.float32)
    scratch = np.empty(LANES, np.float32)
    active = np.empty(LANES, np.float64)
    c = np.empty(LANES, np.float64)
    s = np.empty(LANES, np.float64)
    order = np.empty(k, np.int64)
    for first in range(0, count, LANES):
        lanes = min(LANES, count - first)
        _gather_lanes(tiles, first, lanes, a)
        _gram_lanes(a, gram)
        for lane in range(LANES):
            energy[lane] = 0.0
        for r in range(m):
            for i in range(n):
                for lane in range(LANES):
                    energy[lane] += float(a[r, i, lane]) * float(a[r, i, lane])
        for j in range(k):
            for i in range(n):
                for lane in range(LANES):
                    z[j, i, lane] = start[j, i]
        for _ in range(power):
            _apply_gram_lanes(gram, z, gz, k)
            z[:, :, :] = gz
            _orthonormalize_lanes(z, k, dot, scratch)
        _apply_gram_lanes(gram, z, gz, k)  # Rayleigh-Ritz: h = Z G Z^T in float64
        for p in range(k):
            for q in range(p, k):
                for lane in range(LANES):
                    h[p, q, lane] = 0.0
                for i in range(n):
                    for lane in range(LANES):
                        h[p, q, lane] += float(z[p, i, lane]) * float(gz[q, i, lane])
                for lane in range(LANES):
                    h[q, p, lane] = h[p, q, lane]
        _jacobi_lanes(h, vec, k, active, c, s)
        # V = vec^T Z for every Ritz pair (sorted only when stored), sigma, U = A V / sigma
        for j in range(k):
            for i in range(n):
                for lane in range(LANES):
                    v[j, i, lane] = 0.0
            for p in range(k):
                for i in range(n):
                    for lane in range(LANES):
                        v[j, i, lane] += np.float32(vec[p, j, lane]) * z[p, i, lane]
        for lane in range(LANES):
            top = 0.0
            for j in range(k):
                top = max(top, h[j, j, lane])
            top = math.sqrt(top)
            for j in range(k):
                value = math.sqrt(max(h[j, j, lane], 0.0))
                sigma[j, lane] = value if value > 1e-6 * max(top, 1e-30) else 0.0
        for j in range(k):
            for lane in range(LANES):
                scratch[lane] = np.float32(1.0 / sigma[j, lane]) if sigma[j, lane] > 0.0 else np.float32(0.0)
            for r in range(m):
                for lane in range(LANES):
                    dot[lane] = 0.0
                for i in range(n):
                    for lane in range(LANES):
                        dot[lane] += a[r, i, lane] * v[j, i, lane]
                for lane in range(LANES):
                    u[r, j, lane] = dot[lane] * scratch[lane]
        for f in range(m):  # into the storage basis
            for j in range(k):
                for lane in range(LANES):
                    out_u[f, j, lane] = 0.0
            for r in range(m):
                weight = basis_m[f, r]
                for j in range(k):
                    for lane in range(LANES):
                        out_u[f, j, lane] += weight * u[r, j, lane]
        for j in range(k):
            for f in range(n):
                for lane in range(LANES):
                    out_v[j, f, lane] = 0.0
                for i in range(n):
                    weight = basis_n[f, i]
                    for lane in range(LANES):
                        out_v[j, f, lane] += weight * v[j, i, lane]
        for lane in range(lanes):  # store, largest sigma first
            tile = first + lane
            for j in range(k):
                order[j] = j
            for i in range(1, k):  # insertion sort, descending
                j = i
                while j > 0 and sigma[order[j], lane] > sigma[order[j - 1], lane]:
                    order[j], order[j - 1] = order[j - 1], order[j]
                    j -= 1
            kept = 0.0
            for j in range(k):
                col = order[j]
                value = sigma[col, lane]
                s_out[tile, j] = value
                kept += value * value
                for i in range(n):
                    vt_out[tile, j, i] = out_v[col, i, lane] if value > 0.0 else np.float32(0.0)
                for r in range(m):
                    u_out[tile, r, j] = out_u[r, col, lane]
            tail_out[tile] = max(energy[lane] - kept, 0.0)
            energy_out[tile] = energy[lane]


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _gram(a, gram):
    """gram = A^T A (in gram's precision), as row updates that vectorise."""
    gram[:, :] = 0.0
    for r in range(a.shape[0]):
        for i in range(a.shape[1]):
            ari = a[r, i]
            for j in range(a.shape[1]):
                gram[i, j] += ari * a[r, j]


def dct_start(n: int, k: int) -> np.ndarray:
    """The first k orthonormal DCT-II vectors of length n (n x k, float32)."""
    i, f = np.arange(n)[:, None], np.arange(k)[None, :]
    b = np.cos(np.pi * (i + 0.5) * f / n)
    return (b / np.linalg.norm(b, axis=0)).astype(np.float32)


def topk(
    tiles: np.ndarray, k: int, power: int = 2, *, dct: bool = False, energy: np.ndarray | None = None
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """(U (T, m, k), s (T, k), Vt (T, k, n)) and tail energies (T,) of a (T, m, n) float32 stack; with `dct`, the
    vectors' orthonormal DCT-II (what format v3 stores) instead of the vectors. `energy` (T,) float64, if given,
    gets each tile's energy."""
    count, m, n = tiles.shape
    k = min(k, m, n)
    a = np.ascontiguousarray(tiles, dtype=np.float32)
    u = np.empty((count, m, k), np.float32)
    s = np.empty((count, k), np.float32)
    vt = np.empty((count, k, n), np.float32)
    tail = np.empty(count, np.float64)
    basis_m, basis_n = (
        (dct_basis(m), dct_basis(n)) if dct else (np.eye(m, dtype=np.float32), np.eye(n, dtype=np.float32))
    )
    energy = np.empty(count, np.float64) if energy is None else energy
    start = np.ascontiguousarray(dct_start(n, k).T)
    topk_tiles(a, k, power, start, basis_m, basis_n, u, s, vt, tail, energy)
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
    from `_tred2`. Lengths are sqrt(a*a + b*b), not hypot (a library call that guards against overflow: it was
    45% of an exact 16 x 16 solve): the Gram matrices of pixel tiles keep every square far inside float64's range
    (entries below 2**40; p below 1/eps where it is a ratio, since a negligible e[l] ends the iteration first)."""
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
                r = math.sqrt(p * p + 1.0)
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
                    r = math.sqrt(p * p + e[i] * e[i])
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
