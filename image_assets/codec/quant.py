"""Quantised singular triplets and their reconstruction (shared by encoder and decoder, so the encoder
measures exactly the image the decoder will produce).

Triplet i of a tile is stored as integer vectors qu = round(sigma u / step), qv = round(sigma v / step):
a per-vector step of step/sigma on the unit vectors, which gives every stored coefficient the same
reconstruction error (step^2/12), the high-rate MSE optimum. The decoder recovers the scale from the
vectors themselves, sigma ~ step * sqrt(|qu| |qv|), so no per-triplet scale is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from image_assets.codec.tiles import from_tiles

LIMIT = (1 << 31) - 1  # stored coefficients are int32


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


def quantize(
    u: np.ndarray, s: np.ndarray, vt: np.ndarray, ranks: np.ndarray, step: float, *, dct: bool = True
) -> PlaneCode:
    """Keep the leading `ranks[t]` triplets of each tile and quantise them with a per-vector step.

    With `dct` (format v3) each scaled vector is stored as its orthonormal DCT: the norms, hence the error and the
    recovered scale, are unchanged, but a smooth singular vector's energy sits in a few low frequencies, which
    the context model codes in a few bits. The sign of each (u, v) pair is chosen to make u's DC term positive.

    `u`, `vt` may hold fewer triplets than `s` (a tile's top triplets only) when no rank reaches past them."""
    k = u.shape[2]
    mask = np.arange(k)[None, :] < ranks[:, None]
    sel_s = s[:, :k][mask].astype(np.float32)
    factor = (sel_s / np.float32(step))[:, None]
    fu = u.transpose(0, 2, 1)[mask] * factor
    fv = vt[mask] * factor
    if dct:
        fu = dct_rows(fu)
        fv = dct_rows(fv)
        flip = np.where(fu[:, :1] < 0, np.float32(-1.0), np.float32(1.0))
        fu *= flip
        fv *= flip
    qu = np.rint(np.clip(fu, -LIMIT, LIMIT)).astype(np.int32)
    qv = np.rint(np.clip(fv, -LIMIT, LIMIT)).astype(np.int32)
    return PlaneCode(ranks=ranks.astype(np.int64), qu=qu, qv=qv, step=float(step), dct=dct)


def dct_rows(x: np.ndarray) -> np.ndarray:
    """Orthonormal DCT-II of every row (float32)."""
    if x.size == 0:
        return x.astype(np.float32)
    return scipy.fft.dct(x, type=2, norm="ortho", axis=1, workers=1).astype(np.float32, copy=False)


def idct_rows(x: np.ndarray) -> np.ndarray:
    """Inverse of `dct_rows`."""
    if x.size == 0:
        return x.astype(np.float32)
    return scipy.fft.idct(x, type=2, norm="ortho", axis=1, workers=1).astype(np.float32, copy=False)


def scales(code: PlaneCode) -> np.ndarray:
    """Per-triplet multiplier step / sqrt(|qu| |qv|) (zero where a vector quantised to zero)."""
    nu = np.sqrt(np.einsum("ij,ij->i", code.qu, code.qu, dtype=np.float64))
    nv = np.sqrt(np.einsum("ij,ij->i", code.qv, code.qv, dtype=np.float64))
    norm = np.sqrt(nu * nv)
    with np.errstate(divide="ignore"):
        return np.where(norm > 0, code.step / np.where(norm > 0, norm, 1.0), 0.0).astype(np.float32)


def reconstruct(code: PlaneCode, layout: PlaneLayout) -> np.ndarray:
    """Decoded float32 plane (before colour conversion and rounding)."""
    rmax = int(code.ranks.max(initial=0))
    if rmax == 0:
        return np.zeros((layout.height, layout.width), dtype=np.float32)
    return from_tiles(reconstruct_tiles(code, rmax, layout.tile_h, layout.tile_w), layout.height, layout.width)


def reconstruct_tiles(code: PlaneCode, rmax: int, tile_h: int, tile_w: int) -> np.ndarray:
    """The (T, tile_h, tile_w) tiles of a code, as products of `rmax` factor rows per tile.

    `rmax` is the largest rank of the whole plane even when `code` holds a band of its tiles: every tile's
    product then has the same shape as when the plane is rebuilt at once, so the same bits."""
    count = code.ranks.shape[0]
    mask = np.arange(rmax)[None, :] < code.ranks[:, None]
    left = np.zeros((count, rmax, tile_h), dtype=np.float32)
    right = np.zeros((count, rmax, tile_w), dtype=np.float32)
    if code.dct:
        left[mask] = idct_rows(code.qu.astype(np.float32) * scales(code)[:, None])
        right[mask] = idct_rows(code.qv.astype(np.float32))
    else:
        left[mask] = code.qu * scales(code)[:, None]
        right[mask] = code.qv
    return np.matmul(left.transpose(0, 2, 1), right)


def band_code(code: PlaneCode, offsets: np.ndarray, first: int, last: int) -> PlaneCode:
    """Tiles first..last of a tile-major code; `offsets` is [0] + cumsum(ranks)."""
    lo, hi = int(offsets[first]), int(offsets[last])
    return PlaneCode(code.ranks[first:last], code.qu[lo:hi], code.qv[lo:hi], code.step, code.dct)
