"""The deblocking filter's fast path for 3-channel images (whole pixels copied as bytes, `vector16.copy3/copy4`)
against its general path, which RGBA images take with the alpha channel left alone: the colour must match."""

import itertools

import numpy as np
import pytest

from image_assets.codec import deblock


@pytest.mark.parametrize("grid", [8, 16])  # with 8, neighbouring edges' windows touch
@pytest.mark.parametrize("width", [36, 40, 47, 64])  # an edge's window ending on the last pixel, and not
def test_rgb_fast_path_matches_the_general_path(width, grid):
    rng = np.random.default_rng(width)
    base = rng.integers(90, 130, (37, width, 3))
    base[:, ::grid] += 9  # steps at the tile edges for the filter to act on
    rgb = base.clip(0, 255).astype(np.uint8)
    rgba = np.dstack([rgb, rng.integers(0, 256, rgb.shape[:2])]).astype(np.uint8)
    alpha = rgba[:, :, 3].copy()
    fast, general = rgb.copy(), rgba.copy()
    deblock.apply(fast, (grid, grid), 6.0, coarse=2)
    deblock.apply(general, (grid, grid), 6.0, coarse=2)
    assert not np.array_equal(fast, rgb)  # the filter did something
    assert np.array_equal(fast, general[:, :, :3]) and np.array_equal(general[:, :, 3], alpha)


@pytest.mark.parametrize("grid", [8, 16, 24])
@pytest.mark.parametrize("count", [2, 3, 7])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_strips_filter_exactly_what_the_whole_image_gets(grid, count, channels):
    """Threads deblock an encode's canvas strip by strip: every edge must be filtered once, with the same result,
    however the rows are cut (odd heights, strips holding no edge, more strips than edges)."""
    rng = np.random.default_rng(grid * 100 + count * 10 + channels)
    height = grid * 5 + 3
    base = rng.integers(90, 130, (height, 53, channels))
    base[::grid] += 9  # steps at both kinds of tile edge
    base[:, ::grid] -= 7
    pixels = base.clip(0, 255).astype(np.uint8)
    whole = pixels.copy()
    deblock.apply(whole, (grid, grid), 6.0, coarse=2)
    assert not np.array_equal(whole, pixels)
    cut = pixels.copy()
    strips = deblock.strips(height, grid, count)
    assert strips[0][0] == 0 and strips[-1][1] == height and len(strips) > 1
    assert all(a[1] == b[0] for a, b in itertools.pairwise(strips))
    for rows in reversed(strips):  # any order: the strips touch disjoint rows
        deblock.apply(cut, (grid, grid), 6.0, coarse=2, rows=rows)
    assert np.array_equal(cut, whole)


def test_tiles_under_eight_rows_are_one_strip():
    """An edge's filter reaches 4 rows each side: below 8-row tiles no cut keeps every edge inside one strip."""
    assert deblock.strips(100, 4, 5) == [(0, 100)]
    assert deblock.strips(100, 16, 1) == [(0, 100)]
