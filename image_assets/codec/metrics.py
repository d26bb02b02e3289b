"""Quality metrics reported with every encode (SSIM is scikit-image's, not a re-implementation)."""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

PEAK = 255.0


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error; float32 row sums added in float64 (fast, and exact enough for 0.005 dB)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = np.subtract(a, b, dtype=np.float32).reshape(a.shape[0], -1)
    return float(np.einsum("ij,ij->i", d, d).sum(dtype=np.float64)) / d.size


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
    win = min(7, small if small % 2 else small - 1)
    channel_axis = -1 if a.ndim == 3 else None
    return float(structural_similarity(a, b, data_range=PEAK, win_size=win, channel_axis=channel_axis))


def bits_per_pixel(n_bytes: int, height: int, width: int) -> float:
    return 8.0 * n_bytes / (height * width)
