"""Stage 2: which triplets to keep and how finely to quantise them, in closed form from the singular values.

One global step `delta` (in weighted pixel units) drives both decisions: plane p is quantised with
delta / sqrt(weight_p), and a triplet is kept when sqrt(weight_p) * sigma >= KAPPA * delta * sqrt((m+n)/2),
i.e. when the error it removes beats the bits its m+n coefficients cost. Keeping the largest weighted
sigma across all tiles and planes is MSE-optimal for a given count, and the predicted error is
  discarded weighted energy + kept coefficients * delta^2 / 12 + subsampling residual + rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from image_assets.codec.analysis import Analysis

KAPPA = 0.8  # keep threshold in units of delta * sqrt((m+n)/2); tuned on the bundled photos
ROUNDING_MSE = 1.0 / 12.0  # rounding the decoded image to integers


@dataclass
class Spectrum:
    """All triplets of an analysis sorted by keep priority, with running sums for O(log n) predictions."""

    keys: np.ndarray  # descending priority
    kept_energy: np.ndarray  # cumulative weighted sigma^2, prefix sums (len n+1)
    kept_coefs: np.ndarray  # cumulative m+n, prefix sums (len n+1)
    total: float
    residual: float
    samples: int


def spectrum(analysis: Analysis) -> Spectrum:
    keys, energy, coefs = [], [], []
    for lay, (_u, s, _vt) in zip(analysis.layouts, analysis.svds, strict=True):
        flat = s.ravel().astype(np.float64)
        half = (lay.tile_h + lay.tile_w) / 2.0
        keys.append(flat * np.sqrt(lay.weight / half))
        energy.append(lay.weight * flat**2)
        coefs.append(np.full(flat.size, lay.tile_h + lay.tile_w, dtype=np.float64))
    key = np.concatenate(keys)
    order = np.argsort(-key, kind="stable")
    zero = np.zeros(1)
    return Spectrum(
        keys=key[order],
        kept_energy=np.concatenate([zero, np.cumsum(np.concatenate(energy)[order])]),
        kept_coefs=np.concatenate([zero, np.cumsum(np.concatenate(coefs)[order])]),
        total=analysis.total_energy(),
        residual=analysis.residual,
        samples=analysis.samples,
    )


def kept_count(spec: Spectrum, delta: float) -> int:
    return int(np.searchsorted(-spec.keys, -KAPPA * delta, side="right"))


def predicted_mse(spec: Spectrum, delta: float) -> float:
    n = kept_count(spec, delta)
    discarded = max(spec.total - spec.kept_energy[n], 0.0)
    quant = spec.kept_coefs[n] * delta * delta / 12.0
    return (discarded + quant + spec.residual) / spec.samples + ROUNDING_MSE


def delta_for_mse(spec: Spectrum, goal: float) -> float:
    """Largest step whose predicted MSE is at most `goal` (bisection on the closed-form prediction)."""
    lo, hi = 1e-4, 1e5
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        if predicted_mse(spec, mid) <= goal:
            lo = mid
        else:
            hi = mid
    return lo


def ranks_for(analysis: Analysis, delta: float) -> list[np.ndarray]:
    """Per-plane, per-tile ranks the step implies (prefixes, since sigma is sorted within a tile)."""
    out = []
    for lay, (_u, s, _vt) in zip(analysis.layouts, analysis.svds, strict=True):
        half = (lay.tile_h + lay.tile_w) / 2.0
        threshold = KAPPA * delta * np.sqrt(half / lay.weight)
        out.append((s >= threshold).sum(axis=1))
    return out


def plane_steps(analysis: Analysis, delta: float) -> list[float]:
    return [delta / float(np.sqrt(lay.weight)) for lay in analysis.layouts]
