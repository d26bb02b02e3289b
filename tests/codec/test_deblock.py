"""The deblocking filter's fast path for 3-channel images (whole pixels copied as bytes, `vector16.copy3/copy4`)
against its general path, which RGBA images take with the alpha channel left alone: the colour must match."""

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
