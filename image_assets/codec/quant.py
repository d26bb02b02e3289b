"""Quantised singular triplets and their reconstruction (shared by encoder and decoder, so the encoder
measures exactly the image the decoder will produce).

Triplet i of a tile is stored as integer vectors qu = round(sigma u / step), qv = round(sigma v / step):
a per-vector step of step/sigma on the unit vectors, which gives every stored coefficient the same
reconstruction error (step^2/12), the high-rate MSE optimum. The decoder recovers the scale from the
vectors themselves, sigma ~ step * sqrt(|qu| |qv|), so no per-triplet scale is stored.

Format v3 stores each vector as its orthonormal DCT (`dct_axis`; the norms, hence the error and the recovered
scale, are unchanged, but a smooth singular vector's energy sits in a few low frequencies) and quantises and
renders with the compiled kernels in `kernels.py`; `reconstruct_tiles` here renders versions 1 and 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlaneLayout:
    """Geometry of one plane: its size, tile size and error weight."""

    height: int
    width: int
    tile_h: int
    tile_w: int
    weight: float

    @property
    def tiles(self) -> int:
        return -(-self.height // self.tile_h) * -(-self.width // self.tile_w)


@dataclass
class PlaneCode:
    """Integer content of one plane: rank per tile and the quantised vectors, tile-major."""

    ranks: np.ndarray  # (T,) int
    qu: np.ndarray  # (N, tile_h) int32
    qv: np.ndarray  # (N, tile_w) int32
    step: float
    dct: bool = False  # vectors stored as their orthonormal DCT-II (format v3)


def scales(code: PlaneCode) -> np.ndarray:
    """Per-triplet multiplier step / sqrt(|qu| |qv|) (zero where a vector quantised to zero)."""
    nu = np.sqrt(np.einsum("ij,ij->i", code.qu, code.qu, dtype=np.float64))
    nv = np.sqrt(np.einsum("ij,ij->i", code.qv, code.qv, dtype=np.float64))
    norm = np.sqrt(nu * nv)
    with np.errstate(divide="ignore"):
        return np.where(norm > 0, code.step / np.where(norm > 0, norm, 1.0), 0.0).astype(np.float32)


def reconstruct_tiles(code: PlaneCode, rmax: int, tile_h: int, tile_w: int) -> np.ndarray:
    """The (T, tile_h, tile_w) tiles of a code, as products of `rmax` factor rows per tile.

    `rmax` is the largest rank of the whole plane even when `code` holds a band of its tiles: every tile's
    product then has the same shape as when the plane is rebuilt at once, so the same bits."""
    count = code.ranks.shape[0]
    mask = np.arange(rmax)[None, :] < code.ranks[:, None]
    left = np.zeros((count, rmax, tile_h), dtype=np.float32)
    right = np.zeros((count, rmax, tile_w), dtype=np.float32)
    left[mask] = code.qu * scales(code)[:, None]
    right[mask] = code.qv
    return np.matmul(left.transpose(0, 2, 1), right)


def band_code(code: PlaneCode, offsets: np.ndarray, first: int, last: int) -> PlaneCode:
    """Tiles first..last of a tile-major code; `offsets` is [0] + cumsum(ranks)."""
    lo, hi = int(offsets[first]), int(offsets[last])
    return PlaneCode(code.ranks[first:last], code.qu[lo:hi], code.qv[lo:hi], code.step, code.dct)


def dct_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """Orthonormal DCT-II along `axis` (float32, C-contiguous): singular vectors as format v3 stores them."""
    if x.size == 0:
        return np.ascontiguousarray(x, dtype=np.float32)
    import scipy.fft  # encoders only (its import costs ~0.8 s)

    out = scipy.fft.dct(x, type=2, norm="ortho", axis=axis, workers=1)
    return np.ascontiguousarray(out, dtype=np.float32)
