"""Quality metrics reported with every encode.

`ssim` is scikit-image's full SSIM (all channels, 7×7 sliding window): the reference, used by benchmarks and tests.
`fast_ssim` is what every encode reports: SSIM of the luma (BT.601) in float32 over 8×8 windows at two phases
(offsets 0 and 4 in both directions, so half the windows straddle the codec's 16-pixel tile edges), with the same
constants as scikit-image. It costs a few passes over the image instead of dozens; its deviation from `ssim` on the
benchmark photos is measured by `benchmarks/codec.py` and quoted in docs/codec.md.
"""

from __future__ import annotations

import math

import numpy as np

PEAK = 255.0


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error: exact for uint8 images (the encoder measures its trials the same way), float32 row
    sums added in float64 otherwise."""
    return squared_error(a, b) / a.size


def squared_error(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of squared differences (`mse` times the size): exact integers for uint8 images, so row ranges summed on
    several threads add up to the whole image's."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.dtype == np.uint8 and b.dtype == np.uint8 and a.size:
        from image_assets.codec import kernels  # compiled (numba): imported on first use (definitions load faster)

        rows = a.shape[0]
        return kernels.squared_error(
            np.ascontiguousarray(a).reshape(rows, -1), np.ascontiguousarray(b).reshape(rows, -1)
        )
    d = np.subtract(a, b, dtype=np.float32).reshape(a.shape[0], -1)
    return float(np.einsum("ij,ij->i", d, d).sum(dtype=np.float64))


def psnr_from_mse(value: float) -> float:
    return math.inf if value <= 0 else 10.0 * math.log10(PEAK * PEAK / value)


def mse_from_psnr(db: float) -> float:
    return PEAK * PEAK / 10.0 ** (db / 10.0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr_from_mse(mse(a, b))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM over all channels; images under 7 pixels on a side use the largest odd window that fits,
    and images under 3 pixels are edge-padded to 3 (SSIM needs a window)."""
    if np.array_equal(a, b):
        return 1.0
    small = min(a.shape[0], a.shape[1])
    if small < 3:
        pad = [(0, max(0, 3 - a.shape[0])), (0, max(0, 3 - a.shape[1]))] + [(0, 0)] * (a.ndim - 2)
        a, b = np.pad(a, pad, mode="edge"), np.pad(b, pad, mode="edge")
        small = 3
    from skimage.metrics import structural_similarity  # a second of imports (scipy.ndimage): only when asked

    win = min(7, small if small % 2 else small - 1)
    channel_axis = -1 if a.ndim == 3 else None
    return float(structural_similarity(a, b, data_range=PEAK, win_size=win, channel_axis=channel_axis))


K1, K2 = 0.01, 0.03
FAST_WINDOW = 8
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


LUMA_BAND_PIXELS = 1 << 16


def luma(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luma in float32 (grey stays grey; alpha is ignored). Computed a band of rows at a time: the
    product casts its uint8 operand to float32, which for the whole image was 12 bytes per pixel at once
    (each row is its own product either way, so the values are the same)."""
    if pixels.ndim == 2:
        return pixels.astype(np.float32)
    if pixels.shape[2] < 3:
        return pixels[:, :, 0].astype(np.float32)
    out = np.empty(pixels.shape[:2], np.float32)
    step = max(1, LUMA_BAND_PIXELS // max(pixels.shape[1], 1))
    for row in range(0, pixels.shape[0], step):
        out[row : row + step] = pixels[row : row + step, :, :3] @ _LUMA
    return out


def _window_ssim(x: np.ndarray, y: np.ndarray, size: int) -> tuple[float, int]:
    """(sum of SSIM over the non-overlapping size×size windows that fit, number of windows)."""
    h, w = (x.shape[0] // size) * size, (x.shape[1] // size) * size
    if h == 0 or w == 0:
        return 0.0, 0
    shape = (h // size, size, w // size, size)
    xb, yb = x[:h, :w].reshape(shape), y[:h, :w].reshape(shape)
    n = size * size
    mx, my = xb.mean(axis=(1, 3)), yb.mean(axis=(1, 3))
    # Sample (co)variances, as scikit-image's default use_sample_covariance=True.
    vx = (np.einsum("iajb,iajb->ij", xb, xb) - n * mx * mx) / (n - 1)
    vy = (np.einsum("iajb,iajb->ij", yb, yb) - n * my * my) / (n - 1)
    cxy = (np.einsum("iajb,iajb->ij", xb, yb) - n * mx * my) / (n - 1)
    c1, c2 = (K1 * PEAK) ** 2, (K2 * PEAK) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.sum(dtype=np.float64)), s.size


def fast_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Luma SSIM over 8×8 windows at two phases (see the module docstring); images under 8 pixels on a side
    fall back to `ssim`."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if min(a.shape[0], a.shape[1]) < FAST_WINDOW + FAST_WINDOW // 2:
        return ssim(a, b)
    x, y = luma(a), luma(b)
    half = FAST_WINDOW // 2
    total, count = _window_ssim(x, y, FAST_WINDOW)
    shifted, more = _window_ssim(x[half:, half:], y[half:, half:], FAST_WINDOW)
    return (total + shifted) / (count + more)


LUMA = np.array([0.299, 0.587, 0.114])


def grid_step(original: np.ndarray, decoded: np.ndarray, grid: int, origin: tuple[int, int] = (0, 0)) -> float:
    """How visible a block grid is: grey levels by which the decoded image's luma steps between neighbouring pixels
    are larger across the lines every `grid` pixels than across all other lines, beyond what the original's are
    (its content has no reason to step there). A grid adds steps at its edges only; ~0 means the edges look like
    any other line. `origin`: the image row and column of a crop's first pixel, so edges fall where the image's do."""
    edge, other = _edge_and_other_steps(decoded, grid, origin)
    original_edge, original_other = _edge_and_other_steps(original, grid, origin)
    return (edge - other) - (original_edge - original_other)


def _edge_and_other_steps(pixels: np.ndarray, grid: int, origin: tuple[int, int]) -> tuple[float, float]:
    """Mean |luma step| across the grid's lines, and across all other lines."""
    values = pixels.astype(np.float64)
    if values.ndim == 3:  # colour: luma; grey with alpha: the grey
        values = values[:, :, :3] @ LUMA if values.shape[2] >= 3 else values[:, :, 0]
    down, right = np.abs(np.diff(values, axis=0)), np.abs(np.diff(values, axis=1))
    on_row = (np.arange(down.shape[0]) + origin[0] + 1) % grid == 0  # step i: between rows origin + i and + i + 1
    on_col = (np.arange(right.shape[1]) + origin[1] + 1) % grid == 0
    edge = (down[on_row].mean() + right[:, on_col].mean()) / 2
    other = (down[~on_row].mean() + right[:, ~on_col].mean()) / 2
    return float(edge), float(other)


def bits_per_pixel(n_bytes: int, height: int, width: int) -> float:
    return 8.0 * n_bytes / (height * width)
