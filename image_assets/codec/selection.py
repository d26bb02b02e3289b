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
from image_assets.codec.quant import PlaneLayout
from image_assets.codec.threads import parallel_map

KAPPA = 0.6  # keep threshold in units of delta * sqrt((m+n)/2); tuned on photos with format v3's entropy coder
# Chroma planes are quantised this much coarser than the MSE optimum (and keep triplets accordingly): at the same
# PSNR the error moves from chroma to luma detail, which SSIM and the eye weigh more (+0.007 SSIM at 30 dB for
# ~6% more bytes on the benchmark photos).
CHROMA_STEP_SCALE = 1.6
DELTA_FLOOR = 1e-4  # no step below this is ever tried (the bisection's floor; the encoder's MIN_DELTA is above)
ROUNDING_MSE = 1.0 / 12.0  # rounding the decoded image to integers


@dataclass
class Spectrum:
    """Every nonzero triplet's keep priority, sorted within its plane, with running sums for O(log n) predictions.

    Within a plane the keep priority and the energy both grow with sigma, so the triplets a step keeps are a prefix
    of each plane's sorted list: one sorted list per plane answers what a merged list would, and sorting a plane's
    float32 sigmas costs a fraction of a stable argsort over all planes' keys (several ms an encode, which sorts
    up to four times). Triplets with sigma = 0 are left out: a step of at least 1e-4 never keeps them."""

    neg_keys: list[np.ndarray]  # per plane: minus the keep priority, ascending (what `searchsorted` needs)
    kept_energy: list[np.ndarray]  # per plane: weighted sigma^2 in that order, prefix sums (len n+1)
    coefs: list[float]  # per plane: quantisation error per kept triplet, in units of delta^2 / 12
    total: float
    residual: float
    samples: int


def step_scales(analysis: Analysis) -> list[float]:
    """Per plane, the multiplier of its step and keep threshold (CHROMA_STEP_SCALE on chroma, else 1)."""
    chroma = analysis.layout.color != "identity" and analysis.pixels.ndim == 3 and analysis.pixels.shape[2] >= 3
    return [CHROMA_STEP_SCALE if chroma and index in (1, 2) else 1.0 for index in range(len(analysis.layouts))]


def spectrum(analysis: Analysis) -> Spectrum:
    """Sort every plane's nonzero singular values by keep priority (about 20 bytes per triplet at the peak; threads
    take planes)."""

    def plane_spectrum(item: tuple[PlaneLayout, np.ndarray, float]) -> tuple[np.ndarray, np.ndarray]:
        lay, s, scale = item
        values = s[s > 0]  # float32
        values.sort()
        values = values[::-1]  # descending sigma: descending priority
        half = (lay.tile_h + lay.tile_w) / 2.0
        key = np.multiply(values, -np.sqrt(lay.weight / half) / scale, dtype=np.float64)
        energy = np.empty(values.size + 1)
        energy[0] = 0.0
        np.square(values, out=energy[1:], dtype=np.float64)
        energy[1:] *= lay.weight
        np.cumsum(energy[1:], out=energy[1:])
        return key, energy

    scales = step_scales(analysis)
    items = [(lay, plane.s, scale) for lay, plane, scale in zip(analysis.layouts, analysis.svds, scales, strict=True)]
    neg_keys, kept_energy = (list(column) for column in zip(*parallel_map(plane_spectrum, items), strict=True))
    coefs = [(lay.tile_h + lay.tile_w) * scale * scale for lay, scale in zip(analysis.layouts, scales, strict=True)]
    return Spectrum(
        neg_keys=neg_keys,
        kept_energy=kept_energy,
        coefs=coefs,
        total=analysis.total_energy(),
        residual=analysis.residual,
        samples=analysis.samples,
    )


def predicted_mse(spec: Spectrum, delta: float) -> float:
    kept, coefs = 0.0, 0.0
    for keys, energy, per_triplet in zip(spec.neg_keys, spec.kept_energy, spec.coefs, strict=True):
        n = int(np.searchsorted(keys, -KAPPA * delta, side="right"))
        kept += float(energy[n])
        coefs += per_triplet * n
    discarded = max(spec.total - kept, 0.0)
    quant = coefs * delta * delta / 12.0
    return (discarded + quant + spec.residual) / spec.samples + ROUNDING_MSE


def delta_for_mse(spec: Spectrum, goal: float) -> float:
    """Largest step whose predicted MSE is at most `goal` (bisection on the closed-form prediction)."""
    lo, hi = DELTA_FLOOR, 1e5
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        if predicted_mse(spec, mid) <= goal:
            lo = mid
        else:
            hi = mid
    return lo


def ranks_for(analysis: Analysis, delta: float) -> list[np.ndarray]:
    """Per-plane, per-tile ranks the step implies (prefixes, since sigma is sorted within a tile)."""
    from image_assets.codec import kernels  # compiled (numba): imported on first use (definitions load faster)

    out = []
    for lay, plane, scale in zip(analysis.layouts, analysis.svds, step_scales(analysis), strict=True):
        half = (lay.tile_h + lay.tile_w) / 2.0
        threshold = KAPPA * delta * scale * np.sqrt(half / lay.weight)
        ranks = np.empty(plane.s.shape[0], np.int64)
        kernels.count_at_least(plane.s, float(threshold), ranks)  # compared in float64, as numpy does
        out.append(ranks)
    return out


def keep_floors(layouts: list[PlaneLayout]) -> list[float]:
    """Per plane, a sigma below which no step keeps a triplet (half of `ranks_for`'s threshold at DELTA_FLOOR,
    a margin for rounding): the vectors of such triplets are never quantised, so they need not be kept."""
    return [0.5 * KAPPA * DELTA_FLOOR * float(np.sqrt((lay.tile_h + lay.tile_w) / 2.0 / lay.weight)) for lay in layouts]


def plane_steps(analysis: Analysis, delta: float) -> list[float]:
    return [
        delta * scale / float(np.sqrt(lay.weight))
        for lay, scale in zip(analysis.layouts, step_scales(analysis), strict=True)
    ]
