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


def test_no_tile_grid_on_the_portrait_at_30_db(monkeypatch):
    """The crops' measure of a grid (`metrics.grid_step`) on the portrait's face at 30 dB: the decoded image must
    step across tile edges no more than elsewhere (JPEG at the same PSNR: +3.9 grey levels), and the same file
    rendered without the deblocking filter must show its grid, or the measure would prove nothing."""
    from image_assets.codec import decode, decoder, encode
    from image_assets.codec.metrics import grid_step
    from tests.codec.conftest import photo

    pixels = photo("astronaut.png")
    data = encode(pixels, psnr=30)
    face = slice(15, 185), slice(140, 310)
    filtered = decode(data)
    monkeypatch.setattr(decoder, "deblock_tiles", lambda *args, **kwargs: None)
    unfiltered = decode(data)
    assert abs(grid_step(pixels[face], filtered[face], 16, (15, 140))) < 0.5
    assert grid_step(pixels[face], unfiltered[face], 16, (15, 140)) > 2.5
    assert abs(grid_step(pixels, filtered, 16)) < 0.5  # the whole photo too
