"""Cut a plane into equal tiles (edge-padded) so many small SVDs run as batched matrix products."""

from __future__ import annotations

import math
from dataclasses import dataclass

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


# Encode and decode walk the image in bands of whole tile rows, so float32 temporaries scale with a band,
# not the image: about a sixteenth of the image, between these bounds (in pixels).
BAND_MIN_PIXELS = 1 << 16
BAND_MAX_PIXELS = 1 << 18
# A decode holds less per pixel of a band (its planes; no analysis), so it walks bands four times as large: each
# band costs ~30 us of calls into kernels per plane (a 1080p decode in 5 bands rather than 17: 0.5 ms, 3.5%, less).
DECODE_BAND_SCALE = 4


@dataclass(frozen=True)
class Band:
    """Image rows start..stop and, for each plane, the plane rows and the tile indices they cover."""

    start: int
    stop: int
    rows: tuple[tuple[int, int], ...]
    tiles: tuple[tuple[int, int], ...]


def bands(planes: list[tuple[int, int, int, int, int]], height: int, width: int, scale: int = 1) -> list[Band]:
    """Cut the image into bands aligned to every plane's tile rows.

    `planes` holds (height, width, tile_h, tile_w, vertical subsampling factor) per plane. A band's height is
    a multiple of every plane's tile height times its factor, so no tile straddles two bands; whole-plane
    tiles (or odd tile sizes) give a single band. `scale` multiplies the band size and its bounds.
    """
    unit = 1
    for _h, _w, tile_h, _tw, factor in planes:
        unit = math.lcm(unit, tile_h * factor)
    pixels = min(max(height * width // 16, BAND_MIN_PIXELS), BAND_MAX_PIXELS) * scale
    target = pixels // max(width, 1)
    step = max(unit, target // unit * unit)
    out = []
    for start in range(0, height, step):
        stop = min(start + step, height)
        rows, tiles = [], []
        for plane_h, plane_w, tile_h, tile_w, factor in planes:
            first, last = start // factor, min(-(-stop // factor), plane_h)
            per_row = -(-plane_w // tile_w)
            rows.append((first, last))
            tiles.append((first // tile_h * per_row, -(-last // tile_h) * per_row))
        out.append(Band(start, stop, tuple(rows), tuple(tiles)))
    return out
