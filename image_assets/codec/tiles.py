"""Cut a plane into equal tiles (edge-padded) so many small SVDs run as batched matrix products."""

from __future__ import annotations

import numpy as np


def grid(height: int, width: int, tile_h: int, tile_w: int) -> tuple[int, int]:
    return -(-height // tile_h), -(-width // tile_w)


def to_tiles(plane: np.ndarray, tile_h: int, tile_w: int) -> np.ndarray:
    """(T, tile_h, tile_w) in row-major tile order."""
    h, w = plane.shape
    gh, gw = grid(h, w, tile_h, tile_w)
    padded = np.pad(plane, ((0, gh * tile_h - h), (0, gw * tile_w - w)), mode="edge")
    return np.ascontiguousarray(padded.reshape(gh, tile_h, gw, tile_w).transpose(0, 2, 1, 3)).reshape(
        gh * gw, tile_h, tile_w
    )


def from_tiles(tiles: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of `to_tiles`, cropped back to height x width."""
    _, tile_h, tile_w = tiles.shape
    gh, gw = grid(height, width, tile_h, tile_w)
    full = tiles.reshape(gh, gw, tile_h, tile_w).transpose(0, 2, 1, 3).reshape(gh * tile_h, gw * tile_w)
    return full[:height, :width]
