"""SVD kernels: float32, truncated, and the closed-form error identity the PSNR policy relies on."""

import numpy as np

from image_assets.codec.svd import batched_tile_svd, exact_svd, randomized_svd, truncated_svd
from image_assets.codec.tiles import from_tiles, to_tiles


def test_randomized_matches_exact_on_a_photo(gray_crop):
    a = gray_crop.astype(np.float32) - 128
    _, s_exact, _ = exact_svd(a)
    u, s, vt = randomized_svd(a, 20)
    assert u.dtype == np.float32 and u.shape == (a.shape[0], 20) and vt.shape == (20, a.shape[1])
    np.testing.assert_allclose(s[:10], s_exact[:10], rtol=1e-3)
    # Closed form: squared Frobenius error of the truncation equals the discarded energy.
    err = np.sum((a.astype(np.float64) - (u * s) @ vt) ** 2)
    assert abs(err - (np.sum(a.astype(np.float64) ** 2) - np.sum(s.astype(np.float64) ** 2))) < 1e-3 * err


def test_truncated_svd_never_returns_full_matrices():
    a = np.random.default_rng(0).standard_normal((300, 40)).astype(np.float32)
    u, s, vt = truncated_svd(a, 5)
    assert u.shape == (300, 5) and s.shape == (5,) and vt.shape == (5, 40)


def test_batched_tiles_match_exact(rgb_crop):
    plane = rgb_crop[:, :, 1].astype(np.float32) - 128
    tiles = to_tiles(plane, 16, 16)
    u, s, vt = batched_tile_svd(tiles)
    for t in (0, 7, len(tiles) - 1):
        np.testing.assert_allclose(s[t], exact_svd(tiles[t])[1], rtol=1e-3, atol=1e-2)
    rebuilt = np.matmul(u * s[:, None, :], vt)
    np.testing.assert_allclose(from_tiles(rebuilt, *plane.shape), plane, atol=1e-2)


def test_tiles_round_trip_with_padding():
    plane = np.arange(37 * 23, dtype=np.float32).reshape(37, 23)
    tiles = to_tiles(plane, 16, 16)
    assert tiles.shape == (3 * 2, 16, 16)
    assert np.array_equal(from_tiles(tiles, 37, 23), plane)


def test_lane_jacobi_matches_lapack_in_every_lane():
    from image_assets.codec.tilesvd import W, _jacobi, _sweep_order

    rng = np.random.default_rng(3)
    x = rng.standard_normal((W, 6, 8))
    c = x @ x.transpose(0, 2, 1)
    c[5] = 0.0  # an empty lane (a padded batch) stays empty
    h = np.ascontiguousarray(c.transpose(1, 2, 0))
    vec = np.empty_like(h)
    _jacobi(h, vec, 6, np.empty(W), _sweep_order(6))
    for lane in range(W):
        lam, v = np.diag(h[:, :, lane]), vec[:, :, lane]
        order = np.argsort(-lam)
        np.testing.assert_allclose(lam[order], np.linalg.eigvalsh(c[lane])[::-1], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(v.T @ v, np.eye(6), atol=1e-9)
        assert np.abs(c[lane] @ v - v * lam[None, :]).max() <= 1e-6 * max(lam.max(), 1e-300)


def test_a_settled_lane_stops_rotating_whatever_its_neighbours():
    """A lane's Jacobi must do what it would alone: a matrix settled by the stopping test (its off-diagonal part
    tiny beside its largest eigenvalue) but with a pair of small eigenvalues still coupled must not be rotated
    because another lane in the batch needs more sweeps."""
    from image_assets.codec.tilesvd import W, _jacobi, _sweep_order

    settled = np.diag([1e6, 1.0, 2.0, 3.0, 4.0, 5.0])
    settled[1, 2] = settled[2, 1] = 1e-4
    x = np.random.default_rng(5).standard_normal((6, 8))
    results = []
    for neighbour in (np.zeros((6, 6)), x @ x.T):
        h = np.zeros((6, 6, W))
        h[:, :, 0], h[:, :, 1] = settled, neighbour
        vec = np.empty_like(h)
        _jacobi(h, vec, 6, np.empty(W), _sweep_order(6))
        results.append((h[:, :, 0].copy(), vec[:, :, 0].copy()))
    assert np.array_equal(results[0][0], settled)
    assert all(np.array_equal(a, b) for a, b in zip(*results, strict=True))


def test_topk_gives_each_tile_the_same_bits_in_any_batch(gray_crop):
    """Threads split the tiles into other batches, and `threads=N` must not change the file."""
    from image_assets.codec.svd import topk_compact

    tiles = to_tiles(gray_crop.astype(np.float32) - 128, 16, 16)
    tiles[2] = 0.0  # a flat tile converges at once beside ones that take every sweep
    whole, whole_tail = topk_compact(tiles, 6)
    for start in (1, 37):
        part, part_tail = topk_compact(tiles[start:], 6)
        for a, b in zip(whole, part, strict=True):
            assert np.array_equal(a[start:], b)
        assert np.array_equal(whole_tail[start:], part_tail)


def test_topk_can_give_the_vectors_as_format_v3_stores_them(gray_crop):
    import scipy.fft

    from image_assets.codec.svd import topk_compact

    tiles = to_tiles(gray_crop.astype(np.float32) - 128, 16, 16)
    (u, s, vt), tail = topk_compact(tiles, 6)
    energy = np.full(len(tiles), -1.0)
    (du, ds, dvt), dtail = topk_compact(tiles, 6, dct=True, energy=energy)
    assert np.array_equal(s, ds) and np.array_equal(tail, dtail)
    np.testing.assert_allclose(energy, np.einsum("tij,tij->t", tiles, tiles, dtype=np.float64), rtol=1e-12)
    np.testing.assert_allclose(du, scipy.fft.dct(u, norm="ortho", axis=1), atol=1e-5)
    np.testing.assert_allclose(dvt, scipy.fft.dct(vt, norm="ortho", axis=2), atol=1e-5)


def test_topk_tile_svd_finds_the_leading_triplets(gray_crop):
    from image_assets.codec.svd import topk_tile_svd

    tiles = to_tiles(gray_crop.astype(np.float32) - 128, 16, 16)
    (u, s, vt), tail = topk_tile_svd(tiles, 6)
    assert u.shape == tiles.shape and s.shape == (len(tiles), 16) and vt.shape == tiles.shape
    assert not s[:, 6:].any()
    _, s_exact, _ = batched_tile_svd(tiles)
    # The leading singular value is found to float32-ish accuracy; the rest never exceed the exact ones much.
    np.testing.assert_allclose(s[:, 0], s_exact[:, 0], rtol=2e-2, atol=1e-2)
    assert (s[:, :6] <= s_exact[:, :6] * (1 + 1e-3) + 1e-3).all()
    # `tail` is exactly the energy the found triplets leave out.
    rec = np.matmul(u * s[:, None, :], vt)
    err = np.sum((tiles.astype(np.float64) - rec) ** 2, axis=(1, 2))
    np.testing.assert_allclose(err, tail, rtol=1e-3, atol=1e-2 * float(tail.max()))


def test_a_group_of_bands_is_cut_into_the_tiles_its_bands_give(rgb_crop):
    """The fast analysis cuts several bands' tiles in one pass (luma straight from the pixels): the same values as
    cutting each band's plane rows into tiles."""
    from image_assets.codec.analysis import Analysis, Layout, analyze

    pixels = np.ascontiguousarray(np.tile(rgb_crop, (3, 2, 1))[:301, :333])  # edges that need padding
    analysis: Analysis = analyze(pixels, Layout("ycbcr420", 16), fast_rank=4)
    assert analysis.source is not None and len(analysis.bands) > 1
    for index in range(3):
        top, bottom = analysis.bands[0], analysis.bands[-1]
        whole = analysis.rows_tiles(index, top.rows[index][0], bottom.rows[index][1])
        lay = analysis.layouts[index]
        rows = [analysis.source.rows(index, *band.rows[index]) for band in analysis.bands]
        banded = np.concatenate([to_tiles(r, lay.tile_h, lay.tile_w) for r in rows])
        assert np.array_equal(whole, banded)


def _awkward_tiles(rng, m, n):
    noise = rng.standard_normal((m, n)) * 100
    rank_one = np.outer(rng.standard_normal(m), rng.standard_normal(n)) * 50
    twins = rng.standard_normal((m, n))
    twins[:, 1] = twins[:, 0]  # two equal columns: a zero singular value
    graded = (rng.standard_normal((m, n)) * np.logspace(0, -5, n)[None, :]) * 1e3  # sigma over 5 decades
    return np.stack([np.zeros((m, n)), noise, rank_one, twins, graded, np.full((m, n), 7.0)]).astype(np.float32)


def test_exact_tile_svd_matches_lapack_on_awkward_tiles():
    """The refine step's one-sided Jacobi: every triplet of zero, rank-deficient, graded and non-square tiles."""
    from image_assets.codec.svd import exact_tile_svd

    rng = np.random.default_rng(11)
    for m, n in ((16, 16), (24, 8), (8, 24), (5, 3)):
        tiles = _awkward_tiles(rng, m, n)
        u, s, vt = exact_tile_svd(tiles)
        for t, tile in enumerate(tiles):
            expected = np.linalg.svd(tile.astype(np.float64), compute_uv=False)
            top = max(expected[0], 1e-30)
            assert np.all(np.diff(s[t]) <= 0), "singular values descending"
            np.testing.assert_allclose(s[t], expected, atol=1e-5 * top)
            rebuilt = (u[t].astype(np.float64) * s[t]) @ vt[t]
            np.testing.assert_allclose(rebuilt, tile, atol=1e-4 * top)
            # Orthonormal vectors where it matters: weighted by the energy they carry (a deviation between triplets
            # i and j costs sigma_i * sigma_j of the tile's energy; float32 leaves a tiny triplet's vectors ~1e-4 off)
            kept = s[t] > 1e-6 * top
            weights = np.outer(s[t][kept], s[t][kept]).astype(np.float64)
            for gram in (u[t][:, kept].T @ u[t][:, kept], vt[t][kept] @ vt[t][kept].T):
                deviation = weights * (gram.astype(np.float64) - np.eye(kept.sum()))
                assert np.abs(deviation).max(initial=0.0) <= 5e-5 * top**2  # Jacobi stops at 1e-5
            assert np.count_nonzero(kept) >= np.count_nonzero(expected > 1e-4 * top)


def test_exact_tile_svd_in_the_dct_domain_and_in_any_batch(gray_crop):
    """With `dct` it gives the vectors' DCT (as stored); every tile the same bits whatever batch it is in."""
    import scipy.fft

    from image_assets.codec.svd import exact_tile_svd

    tiles = to_tiles(gray_crop.astype(np.float32) - 128, 16, 16)[:40]
    tiles[3] = 0.0
    u, s, vt = exact_tile_svd(tiles)
    du, ds, dvt = exact_tile_svd(tiles, dct=True)
    assert np.array_equal(s, ds)
    np.testing.assert_allclose(du, scipy.fft.dct(u, norm="ortho", axis=1), atol=1e-5)
    np.testing.assert_allclose(dvt, scipy.fft.dct(vt, norm="ortho", axis=2), atol=1e-5)
    for start in (1, 13):
        part = exact_tile_svd(tiles[start:], dct=True)
        for whole, piece in zip((du, ds, dvt), part, strict=True):
            assert np.array_equal(whole[start:], piece)
