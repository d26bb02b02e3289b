"""Leading singular triplets of many small tiles, compiled (numba), W tiles side by side.

For each tile A (m x n): the Gram matrix G = A^T A, two steps of subspace iteration on k vectors started from the
first k DCT-II vectors (the leading singular vectors of image tiles are smooth, so the start is already close),
then a Rayleigh-Ritz step (a k x k Jacobi eigen-solve in float64) for V, sigma, and U = A V / sigma. The energy
left outside the k triplets (the tile's energy minus their sigma^2, exact whatever the subspace) is what the
closed-form rate control needs; tiles where it could hold a triplet worth keeping are solved exactly later
(`analysis.refine`).

Why lanes: one 16 x 16 tile's loops are 16 long, too short for LLVM to vectorise, and its dot products are
reductions across a vector. With the tile index innermost (arrays [.., lane]) every step is the same scalar
algorithm run on W = 8 tiles in one vector register, with no reductions across lanes; the steps are `lanes`'
vector-IR operations (a batch's matrices stay in the L1 cache, sums in registers). 1080p, 12,240 tiles: 31 ms with
64 lanes left to LLVM's vectoriser, 17 ms this way. Branches become per-lane selects (a lane whose Jacobi has
converged stops rotating), so every tile's result depends on that tile alone, whatever its neighbours in the batch
(threads split batches differently and must give the same bytes).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from image_assets.codec import lanes
from image_assets.codec.kernels import dct_basis
from image_assets.codec.lanes import W

JACOBI_SWEEPS = 5


@njit(cache=True, nogil=True, inline="always")
def _gather_lanes(tiles, first, count, a):
    """a[r, i, lane] = tiles[first + lane, r, i] for the `count` tiles of this batch; zeros in the lanes after them."""
    if count < W:
        a[:, :, :] = 0.0
    for lane in range(count):
        tile = tiles[first + lane]
        for r in range(a.shape[0]):
            for i in range(a.shape[1]):
                a[r, i, lane] = tile[r, i]


@njit(cache=True, nogil=True, inline="always")
def _apply_gram(gram, z, gz, k, n):
    """gz = z G per lane (rows of z times the symmetric G)."""
    for j in range(k):
        lanes.dots(gz, j * n * W, W, z, j * n * W, W, gram, 0, W, n * W, n, n)


@njit(cache=True, nogil=True, inline="always")
def _orthonormalize(z, k, n, factors, dot, start):
    """Rows of z (k x n per lane) made orthonormal by classical Gram-Schmidt, twice (as good as the modified method
    done twice, and each row's projections are one product, not a chain of them); a row that is numerically
    dependent on the previous ones becomes zero."""
    for j in range(k):
        row = j * n * W
        lanes.dots(start, 0, 0, z, row, W, z, row, 0, W, n, 1)
        if j > 0:
            for _ in range(2):
                lanes.dots(factors, 0, W, z, row, W, z, 0, n * W, W, n, j)
                lanes.subtract_combination(z, row, factors, z, n * W, W, n, j)
        lanes.dots(dot, 0, 0, z, row, W, z, row, 0, W, n, 1)
        for lane in range(W):
            norm = np.sqrt(dot[lane])
            keep = (norm > np.float32(1e-3) * np.sqrt(start[lane])) & (norm > 0.0)
            dot[lane] = np.float32(1.0) / norm if keep else np.float32(0.0)
        lanes.scale(z, row, dot, 0, W, n)


@njit(cache=True, nogil=True)
def _sweep_order(k):
    """Every pair (p < q) of 0..k-1 once, in rounds of disjoint pairs (the circle method of a round-robin
    tournament): consecutive rotations touch different rows, so the processor overlaps them (each one's angle is a
    chain of divisions and square roots; in row order every rotation waited for the one before)."""
    players = k + (k % 2)
    pairs = np.empty((k * (k - 1) // 2, 2), np.int64)
    count = 0
    for round_ in range(players - 1):
        for i in range(players // 2):
            p = round_ if i == 0 else (round_ + i) % (players - 1)
            q = players - 1 if i == 0 else (round_ - i) % (players - 1)
            if q < k and p < k:
                pairs[count, 0], pairs[count, 1] = min(p, q), max(p, q)
                count += 1
    return pairs


@njit(cache=True, nogil=True, inline="always")
def _jacobi(h, vec, k, active, pairs):
    """Eigen-decomposition of each lane's symmetric k x k float64 matrix h in place (cyclic Jacobi): eigenvalues end
    on the diagonal, eigenvectors in the columns of vec. A lane stops rotating once its off-diagonal part is
    settled (as it would alone); the sweeps end when every lane has."""
    for i in range(k):
        for j in range(k):
            for lane in range(W):
                vec[i, j, lane] = 1.0 if i == j else 0.0
    for _ in range(JACOBI_SWEEPS):
        settled = True
        for lane in range(W):
            off, diagonal = 0.0, 0.0
            for p in range(k):
                diagonal += h[p, p, lane] * h[p, p, lane]
                for q in range(p + 1, k):
                    off += h[p, q, lane] * h[p, q, lane]
            busy = off > 1e-18 * diagonal  # float32 data: settled far below its precision
            active[lane] = 1.0 if busy else 0.0
            settled = settled and not busy
        if settled:
            break
        for pair in range(pairs.shape[0]):
            lanes.jacobi_rotate(h, vec, pairs[pair, 0], pairs[pair, 1], k, active)


@njit(cache=True, nogil=True, inline="always")
def _descending(sigma, lane, order):
    """order = the rows of sigma[:, lane] by value, largest first (insertion sort: a handful of values)."""
    for j in range(order.size):
        order[j] = j
    for i in range(1, order.size):
        j = i
        while j > 0 and sigma[order[j], lane] > sigma[order[j - 1], lane]:
            order[j], order[j - 1] = order[j - 1], order[j]
            j -= 1


@njit(cache=True, nogil=True, error_model="numpy")
def topk_tiles(tiles, k, power, start, basis_m, basis_n, u_out, s_out, vt_out, tail_out, energy_out):
    """Leading k triplets of every (m x n) tile; `start` is the k x n start basis (rows). Outputs: U (T, m, k),
    s (T, k), Vt (T, k, n) (zero where a tile has fewer than k nonzero triplets) and the energy outside them. The
    vectors are stored transformed by `basis_m` (m x m) and `basis_n` (n x n): U <- B_m U, Vt <- Vt B_n^T (the
    DCT-II matrices give the vectors as format v3 stores them; identities give them as they are). `energy_out`
    gets each tile's energy (sum of squares, float64)."""
    count, m, n = tiles.shape
    a = np.empty((m, n, W), np.float32)
    gram = np.empty((n, n, W), np.float32)
    z = np.empty((k, n, W), np.float32)
    gz = np.empty((k, n, W), np.float32)
    h = np.empty((k, k, W), np.float64)
    vec = np.empty((k, k, W), np.float64)
    vec32 = np.empty((k, k, W), np.float32)
    v = np.empty((k, n, W), np.float32)
    u = np.empty((m, k, W), np.float32)
    out_u = np.empty((m, k, W), np.float32)
    out_v = np.empty((k, n, W), np.float32)
    sigma = np.empty((k, W), np.float64)
    inverse = np.empty((k, W), np.float32)
    energy = np.empty(W, np.float64)
    dot = np.empty(W, np.float32)
    factors = np.empty((k, W), np.float32)
    scratch = np.empty(W, np.float32)
    active = np.empty(W, np.float64)
    order = np.empty(k, np.int64)
    pairs = _sweep_order(k)
    for first in range(0, count, W):
        used = min(W, count - first)
        _gather_lanes(tiles, first, used, a)
        for i in range(n):  # G = A^T A, upper triangle, mirrored
            lanes.dots(gram, (i * n + i) * W, W, a, i * W, n * W, a, i * W, W, n * W, m, n - i)
            for j in range(i + 1, n):
                lanes.copy(gram, (j * n + i) * W, gram, (i * n + j) * W)
        lanes.dots(energy, 0, 0, a, 0, W, a, 0, 0, W, m * n, 1)
        for j in range(k):
            for i in range(n):
                for lane in range(W):
                    z[j, i, lane] = start[j, i]
        for _ in range(power):
            _apply_gram(gram, z, gz, k, n)
            z[:, :, :] = gz
            _orthonormalize(z, k, n, factors, dot, scratch)
        _apply_gram(gram, z, gz, k, n)  # Rayleigh-Ritz: h = Z G Z^T in float64
        for p in range(k):
            lanes.dots(h, (p * k + p) * W, W, z, p * n * W, W, gz, p * n * W, n * W, W, n, k - p)
            for q in range(p + 1, k):
                lanes.copy(h, (q * k + p) * W, h, (p * k + q) * W)
        _jacobi(h, vec, k, active, pairs)
        # V = vec^T Z for every Ritz pair (sorted only when stored), sigma, U = A V / sigma
        for p in range(k):
            for j in range(k):
                for lane in range(W):
                    vec32[p, j, lane] = np.float32(vec[p, j, lane])
        for j in range(k):
            lanes.dots(v, j * n * W, W, vec32, j * W, k * W, z, 0, W, n * W, k, n)
        for lane in range(W):
            top = 0.0
            for j in range(k):
                top = max(top, h[j, j, lane])
            top = math.sqrt(top)
            for j in range(k):
                value = math.sqrt(max(h[j, j, lane], 0.0))
                sigma[j, lane] = value if value > 1e-6 * max(top, 1e-30) else 0.0
                inverse[j, lane] = np.float32(1.0 / sigma[j, lane]) if sigma[j, lane] > 0.0 else np.float32(0.0)
        for r in range(m):
            lanes.dots(u, r * k * W, W, a, r * n * W, W, v, 0, n * W, W, n, k)
        for j in range(k):
            lanes.scale(u, j * W, inverse, j * W, k * W, m)
        for j in range(k):  # into the storage basis
            lanes.weighted_dots(out_u, j * W, k * W, u, j * W, k * W, basis_m, 0, m, 1, m, m)
            lanes.weighted_dots(out_v, j * n * W, W, v, j * n * W, W, basis_n, 0, n, 1, n, n)
        for lane in range(used):  # store, largest sigma first
            tile = first + lane
            _descending(sigma, lane, order)
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
    start = dct_basis(n)[:k]  # the first k DCT-II vectors, as rows
    topk_tiles(a, k, power, start, basis_m, basis_n, u, s, vt, tail, energy)
    return (u, s, vt), tail


# --- exact: every triplet of a tile ----------------------------------------------------------------------------
# One-sided (Hestenes) Jacobi on the tile itself, W tiles side by side (`lanes.rotate_columns`): pairs of columns
# rotated until every pair is orthogonal, so A V = U Sigma: the columns' norms are the singular values, the columns
# over them U, and V^T = Sigma^-2 (A V)^T A (rotating V along would cost a third more). Float32 throughout (no Gram
# matrix, so nothing is squared: small singular values keep their relative accuracy). It replaced the float64 Gram
# matrix's eigen-decomposition (Householder tridiagonalisation and implicit QL, one scalar tile at a time): the 933
# tiles a 1080p encode refines, 13 ms (and a DCT of the vectors after) -> 5.4 ms.

EXACT_SWEEPS = 12  # 16 x 16 photo tiles settle in 5-8


@njit(cache=True, nogil=True, error_model="numpy")
def exact_tiles(tiles, start, basis_m, basis_n, u_out, s_out, vt_out):
    """Every triplet of every (m x n) tile with m >= n: U (T, m, n), s (T, n) descending, Vt (T, n, n), the
    vectors stored transformed as `topk_tiles` stores them (U <- B_m U, Vt <- Vt B_n^T). `start` (n x n, the
    DCT-II) turns the tiles' columns before the sweeps. Columns of U whose singular value is (numerically) zero are
    zero. Each tile's result depends on that tile alone."""
    count, m, n = tiles.shape
    original = np.empty((n, m, W), np.float32)  # the tiles' columns
    a = np.empty((n, m, W), np.float32)  # the same, rotated: A V
    vt = np.empty((n, n, W), np.float32)
    out_u = np.empty((n, m, W), np.float32)
    out_v = np.empty((n, n, W), np.float32)
    squares = np.empty((n, W), np.float32)
    sigma = np.empty((n, W), np.float32)
    inverse = np.empty((n, W), np.float32)
    inverse_square = np.empty(W, np.float32)
    active = np.empty(W, np.float32)
    busy = np.empty(W, np.float32)
    order = np.empty(n, np.int64)
    pairs = _sweep_order(n)
    per_round = max(n // 2, 1)
    angles = np.empty((per_round, 3, W), np.float32)
    for first in range(0, count, W):
        used = min(W, count - first)
        if used < W:
            original[:, :, :] = 0.0
        for lane in range(used):
            tile = tiles[first + lane]
            for r in range(m):
                for c in range(n):
                    original[c, r, lane] = tile[r, c]
        for r in range(m):  # start from A B^T (B the DCT-II): the columns of photo tiles nearly orthogonal already
            lanes.weighted_dots(a, r * W, m * W, original, r * W, m * W, start, 0, n, 1, n, n)
        active[:] = 1.0
        for _ in range(EXACT_SWEEPS):  # a lane whose sweep rotated nothing is done (as it would be alone)
            busy[:] = 0.0
            for first_pair in range(0, pairs.shape[0], per_round):
                lanes.rotate_columns(a, pairs, first_pair, per_round, m, active, busy, angles)
            if busy.max() == 0.0:
                break
            active[:] = busy
        for c in range(n):
            lanes.dots(squares, c * W, 0, a, c * m * W, W, a, c * m * W, 0, W, m, 1)
        for lane in range(W):
            top = 0.0
            for c in range(n):
                top = max(top, squares[c, lane])
            top = math.sqrt(top)
            for c in range(n):
                value = math.sqrt(max(squares[c, lane], 0.0))
                sigma[c, lane] = value
                inverse[c, lane] = np.float32(1.0 / value) if value > 1e-6 * max(top, 1e-30) else np.float32(0.0)
        for c in range(n):  # V^T's row c = (A V)_c^T A / sigma_c^2; then into the storage basis
            lanes.dots(vt, c * n * W, W, a, c * m * W, W, original, 0, m * W, W, m, n)
            for lane in range(W):
                inverse_square[lane] = inverse[c, lane] * inverse[c, lane]
            lanes.scale(vt, c * n * W, inverse_square, 0, W, n)
            lanes.weighted_dots(out_u, c * m * W, W, a, c * m * W, W, basis_m, 0, m, 1, m, m)
            lanes.scale(out_u, c * m * W, inverse, c * W, W, m)
            lanes.weighted_dots(out_v, c * n * W, W, vt, c * n * W, W, basis_n, 0, n, 1, n, n)
        for lane in range(used):  # store, largest sigma first
            tile = first + lane
            _descending(sigma, lane, order)
            for j in range(n):
                col = order[j]
                s_out[tile, j] = sigma[col, lane]
                for i in range(n):
                    vt_out[tile, j, i] = out_v[col, i, lane]
                for r in range(m):
                    u_out[tile, r, j] = out_u[col, r, lane]
