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

KAPPA = 0.6  # keep threshold in units of delta * sqrt((m+n)/2); tuned on photos with format v3's entropy coder
# Chroma planes are quantised this much coarser than the MSE optimum (and keep triplets accordingly): at the same
# PSNR the error moves from chroma to luma detail, which SSIM and the eye weigh more (+0.007 SSIM at 30 dB for
# ~6% more bytes on the benchmark photos).
CHROMA_STEP_SCALE = 1.6
DELTA_FLOOR = 1e-4  # no step below this is ever tried (the bisection's floor; the encoder's MIN_DELTA is above)
ROUNDING_MSE = 1.0 / 12.0  # rounding the decoded image to integers


@dataclass
class Spectrum:
    """All triplets of an analysis sorted by keep priority, with running sums for O(log n) predictions.

    Triplets with sigma = 0 are left out: a step of at least 1e-4 never keeps them, and they sort last, so
    every prediction is unchanged (and the fast analysis, mostly zeros, costs a third of the memory)."""

    neg_keys: np.ndarray  # minus the keep priority, ascending (what `searchsorted` needs)
    kept_energy: np.ndarray  # cumulative weighted sigma^2, prefix sums (len n+1)
    coefs_per_triplet: float  # m+n of every triplet when all planes share a tile size (else 0)
    kept_coefs_sums: np.ndarray | None  # otherwise cumulative m+n, prefix sums (len n+1)
    total: float
    residual: float
    samples: int

    def kept_coefs(self, n: int) -> float:
        if self.kept_coefs_sums is None:
            return float(self.coefs_per_triplet * n)  # the float64 prefix sum of equal integers is exact
        return float(self.kept_coefs_sums[n])


SPECTRUM_CHUNK = 1 << 16  # triplets per step of the energy pass (its temporaries are ~24 bytes each)


def step_scales(analysis: Analysis) -> list[float]:
    """Per plane, the multiplier of its step and keep threshold (CHROMA_STEP_SCALE on chroma, else 1)."""
    chroma = analysis.layout.color != "identity" and analysis.pixels.ndim == 3 and analysis.pixels.shape[2] >= 3
    return [CHROMA_STEP_SCALE if chroma and index in (1, 2) else 1.0 for index in range(len(analysis.layouts))]


def spectrum(analysis: Analysis) -> Spectrum:
    """Sort every nonzero triplet by weighted sigma (stable: ties keep plane, tile, index order).

    Built in place, a chunk at a time, at about 24 bytes per triplet at its peak (one permutation, the keys,
    the sums), where sorting concatenated float64 copies took about twice that."""
    svals = [plane.s for plane in analysis.svds]
    values = np.concatenate([s[s > 0] for s in svals])  # float32, plane-major then row-major, as ravel
    ends = np.cumsum([int(np.count_nonzero(s)) for s in svals])
    key = np.empty(values.size)
    start = 0
    scales = step_scales(analysis)
    for lay, end, scale in zip(analysis.layouts, ends, scales, strict=True):
        half = (lay.tile_h + lay.tile_w) / 2.0
        np.multiply(values[start:end], np.sqrt(lay.weight / half) / scale, out=key[start:end], dtype=np.float64)
        start = int(end)
    np.negative(key, out=key)
    order = np.argsort(key, kind="stable")
    if order.size < np.iinfo(np.int32).max:
        order = order.astype(np.int32)
    key.sort()  # == key[order]: equal keys are equal values, so how ties sort is moot
    weights = np.array([lay.weight for lay in analysis.layouts])
    # quantisation error per kept triplet, in units of delta^2 / 12: its coefficients times its plane's scale^2
    coefs = np.array([(lay.tile_h + lay.tile_w) * sc * sc for lay, sc in zip(analysis.layouts, scales, strict=True)])
    uniform = bool(np.all(coefs == coefs[0])) if coefs.size else True
    kept_energy = np.empty(values.size + 1)
    kept_energy[0] = 0.0
    kept_coefs = None if uniform else np.zeros(values.size + 1)
    for lo in range(0, values.size, SPECTRUM_CHUNK):
        idx = order[lo : lo + SPECTRUM_CHUNK]
        plane = np.searchsorted(ends, idx, side="right")
        energy = values[idx].astype(np.float64)
        np.square(energy, out=energy)
        np.multiply(weights[plane], energy, out=kept_energy[1 + lo : 1 + lo + idx.size])
        if kept_coefs is not None:
            kept_coefs[1 + lo : 1 + lo + idx.size] = coefs[plane]
    del order, values
    np.cumsum(kept_energy[1:], out=kept_energy[1:])
    return Spectrum(
        neg_keys=key,
        kept_energy=kept_energy,
        coefs_per_triplet=float(coefs[0]) if uniform and coefs.size else 0.0,
        kept_coefs_sums=None if kept_coefs is None else np.cumsum(kept_coefs),
        total=analysis.total_energy(),
        residual=analysis.residual,
        samples=analysis.samples,
    )


def kept_count(spec: Spectrum, delta: float) -> int:
    return int(np.searchsorted(spec.neg_keys, -KAPPA * delta, side="right"))


def predicted_mse(spec: Spectrum, delta: float) -> float:
    n = kept_count(spec, delta)
    discarded = max(spec.total - spec.kept_energy[n], 0.0)
    quant = spec.kept_coefs(n) * delta * delta / 12.0
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
    out = []
    for lay, plane, scale in zip(analysis.layouts, analysis.svds, step_scales(analysis), strict=True):
        s = plane.s
        half = (lay.tile_h + lay.tile_w) / 2.0
        threshold = KAPPA * delta * scale * np.sqrt(half / lay.weight)
        out.append((s >= threshold).sum(axis=1))
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
