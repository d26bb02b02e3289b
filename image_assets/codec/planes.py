"""Colour models: split pixels into centred float32 planes and back, with each plane's error weight.

The weight of a plane is how much one unit of squared error in it adds to the squared error of the
decoded pixels, so a global choice of singular triplets across planes stays MSE-optimal after the
colour transform. Chroma subsampling uses a 2x2 box mean and pixel replication: that pair is an
orthogonal projection, so the subsampling residual simply adds to the error (closed form still holds).
"""

from __future__ import annotations

import numpy as np

from image_assets.codec.threads import parallel_map
from image_assets.codec.tiles import to_tiles

COLOR_MODELS = ("identity", "ycbcr", "ycbcr420")

# JPEG's full-range BT.601 transform, applied to pixels centred at 128 (so chroma is centred at 0).
YCC_FORWARD = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float64
)
YCC_INVERSE = np.linalg.inv(YCC_FORWARD)
_FORWARD32 = YCC_FORWARD.astype(np.float32)
# Squared column norms of the inverse: a unit error in Y, Cb or Cr spreads over R, G and B with these weights.
YCC_WEIGHTS = (YCC_INVERSE**2).sum(axis=0)
CHROMA_STRIP_ROWS = 128  # half-resolution rows per task of the chroma transform (threads)


def _as_hwc(pixels: np.ndarray) -> np.ndarray:
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def uses_color_transform(color: str, channels: int) -> bool:
    return color != "identity" and channels >= 3


def to_planes(pixels: np.ndarray, color: str) -> tuple[list[np.ndarray], list[float], float]:
    """Return (planes, weights, residual): residual is the weighted squared error subsampling alone causes."""
    source = PlaneSource(pixels, color)
    planes = [source.rows(index, 0, shape[0]) for index, shape in enumerate(source.shapes)]
    return planes, source.weights, source.residual


class PlaneSource:
    """The planes of an image, computed on demand a band of rows at a time from the uint8 pixels.

    An encode never holds every float32 plane at once: only the half-resolution chroma of ycbcr420 is kept
    (its box mean needs whole rows pairs, and keeping it costs 2 bytes per pixel). Values are bit-identical
    to transforming the whole image at once, since every step is elementwise.
    """

    def __init__(self, pixels: np.ndarray, color: str) -> None:
        self.pixels = np.ascontiguousarray(_as_hwc(pixels))  # (validated pixels already are: no copy)
        self.color = color
        height, width, channels = self.pixels.shape
        self.channels = channels
        self.transform = uses_color_transform(color, channels)
        self.shapes = plane_shapes(color, height, width, channels)
        self.weights = [float(w) for w in YCC_WEIGHTS] + [1.0] * (channels - 3) if self.transform else [1.0] * channels
        self.residual = 0.0
        self._stored: dict[int, np.ndarray] = {}
        if self.transform and color == "ycbcr420":
            from image_assets.codec import (
                kernels,
            )  # compiled (numba): imported on first use, so processes that only load definitions skip ~1 s

            cb, cr = (np.empty(self.shapes[1], np.float32) for _ in range(2))
            errors = np.empty((2, cb.shape[0]))

            def chroma_rows(rows: tuple[int, int]) -> None:
                kernels.rgb_to_chroma420(self.pixels, _FORWARD32[1], _FORWARD32[2], cb, cr, *rows, errors)

            parallel_map(chroma_rows, _row_ranges(cb.shape[0], CHROMA_STRIP_ROWS))
            for c, small, error in ((1, cb, kernels.ordered_sum(errors[0])), (2, cr, kernels.ordered_sum(errors[1]))):
                self.residual += self.weights[c] * error
                self._stored[c] = small
                self.weights[c] *= 4.0

    def rows(self, index: int, start: int, stop: int) -> np.ndarray:
        """Rows start..stop of plane `index` (float32, centred)."""
        stored = self._stored.get(index)
        if stored is not None:
            return stored[start:stop]
        return self._full_rows(index, start, stop)

    def tiles(self, index: int, start: int, stop: int, tile: tuple[int, int], wanted: np.ndarray) -> np.ndarray:
        """Tiles `wanted` (row-major indices, edge-padded) of rows start..stop of plane `index`, as cutting those
        rows into tiles gives them; a luma plane's are computed from the pixels of those tiles alone."""
        from image_assets.codec import kernels

        th, tw = tile
        per_row = -(-self.shapes[index][1] // tw)
        out = np.empty((wanted.size, th, tw), np.float32)
        wanted = wanted.astype(np.int64)
        if self._from_pixels(index):
            kernels.gather_rgb_tiles(self.pixels, _FORWARD32[index], start, stop, th, tw, per_row, wanted, out)
        else:
            rows = np.ascontiguousarray(self.rows(index, start, stop), dtype=np.float32)
            kernels.gather_tiles(rows, th, tw, per_row, wanted, out)
        return out

    def all_tiles(self, index: int, start: int, stop: int, tile: tuple[int, int]) -> np.ndarray:
        """Every tile of rows start..stop (whole tile rows) of plane `index`, edge-padded: `tiles` for all of them
        in order, a luma plane's cut from its rows as they are computed (one pass over the pixels)."""
        from image_assets.codec import kernels

        th, tw = tile
        if not self._from_pixels(index):
            return to_tiles(np.ascontiguousarray(self.rows(index, start, stop), dtype=np.float32), th, tw)
        count = -(-(stop - start) // th) * -(-self.shapes[index][1] // tw)
        out = np.empty((count, th, tw), np.float32)
        kernels.rgb_to_tiles(self.pixels, _FORWARD32[index], start, stop, th, tw, out)
        return out

    def _from_pixels(self, index: int) -> bool:
        """Whether plane `index` is a colour-transformed plane computed from the pixels on demand (not stored)."""
        return self.transform and index < 3 and index not in self._stored

    def _full_rows(self, index: int, start: int, stop: int) -> np.ndarray:
        width = self.pixels.shape[1]
        if not self.transform or index >= 3:
            return self.pixels[start:stop, :, index].astype(np.float32) - 128.0
        from image_assets.codec import kernels

        out = np.empty((stop - start, width), np.float32)
        kernels.rgb_to_plane_rows(self.pixels, start, stop, _FORWARD32[index], out)
        return out


def from_planes(planes: list[np.ndarray], color: str, height: int, width: int, channels: int) -> np.ndarray:
    """Inverse of `to_planes`: float32 HxWxC in pixel units (not yet rounded or clipped), a view of a
    channel-planar array (so every per-channel write below is contiguous)."""
    planar = np.empty((channels, height, width), dtype=np.float32)
    out = planar.transpose(1, 2, 0)
    if not uses_color_transform(color, channels):
        for c in range(channels):
            np.add(planes[c], np.float32(128.0), out=out[:, :, c])
        return out
    if color == "ycbcr420":
        _from_ycc420(planes[:3], out)
    else:
        for c in range(3):
            out[:, :, c] = _mix(YCC_INVERSE[c], planes[:3])
            out[:, :, c] += np.float32(128.0)
    for c in range(3, channels):
        np.add(planes[c], np.float32(128.0), out=out[:, :, c])
    return out


def _from_ycc420(planes: list[np.ndarray], out: np.ndarray) -> None:
    """RGB from full-resolution Y and half-resolution chroma: the chroma terms (and the +128) are mixed at
    half resolution and added to each 2x2 block of Y by broadcasting, instead of upsampling first."""
    height, width = out.shape[:2]
    luma, cb, cr = planes
    h2, w2 = cb.shape
    if (2 * h2, 2 * w2) != (height, width):
        luma = np.pad(luma, ((0, 2 * h2 - height), (0, 2 * w2 - width)), mode="edge")
    rows = luma.reshape(h2, 2, 2 * w2)  # pairs of full-width rows; chroma is widened once per channel
    even = (2 * h2, 2 * w2) == (height, width)
    for c in range(3):
        chroma = _mix(YCC_INVERSE[c, 1:], [cb, cr])
        chroma += np.float32(128.0)
        wide = np.repeat(chroma, 2, axis=1)[:, None, :]
        target = (out[:, :, c] if even else np.empty((2 * h2, 2 * w2), np.float32)).reshape(h2, 2, 2 * w2)
        if abs(YCC_INVERSE[c, 0] - 1.0) < 1e-12:
            np.add(rows, wide, out=target)
        else:
            np.multiply(rows, np.float32(YCC_INVERSE[c, 0]), out=target)
            target += wide
        if not even:
            out[:, :, c] = target.reshape(2 * h2, 2 * w2)[:height, :width]


def _mix(coefs: np.ndarray, planes: list[np.ndarray]) -> np.ndarray:
    """sum_i coefs[i] * planes[i] in float32 without temporaries per term (faster than a 3x3 matmul)."""
    out = planes[0] * np.float32(coefs[0])
    for coef, plane in zip(coefs[1:], planes[1:], strict=True):
        out += np.float32(coef) * plane
    return out


def plane_shapes(color: str, height: int, width: int, channels: int) -> list[tuple[int, int]]:
    """Shapes `to_planes` produces, so the decoder can check a header against them."""
    shapes = [(height, width)] * channels
    if uses_color_transform(color, channels) and color == "ycbcr420":
        half = ((height + 1) // 2, (width + 1) // 2)
        shapes[1] = shapes[2] = half
    return shapes


def _row_ranges(rows: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, rows)) for start in range(0, rows, size)]
